# uploader_test: CurlUploader (roomcast::uploader) against the scripted
# HTTP server of tests/support on 127.0.0.1: retries, budgets, Retry-After,
# keep-alive and shutdown. Its own file, beside publisher/uploader.cmake, so
# the uploader builds and tests without the rest of the publisher. Included
# from tests/CMakeLists.txt.
add_executable(uploader_test
  ${CMAKE_CURRENT_LIST_DIR}/publisher/curl_uploader_test.cc)
target_link_libraries(uploader_test PRIVATE roomcast::uploader
  roomcast_test_support roomcast::warnings absl::strings absl::time
  Threads::Threads GTest::gtest_main)
gtest_discover_tests(uploader_test DISCOVERY_TIMEOUT 30)
