# uploader_test: roomcast::uploader against a scripted HTTP server on
# 127.0.0.1 that the test starts itself. Included from tests/CMakeLists.txt.
add_executable(uploader_test
  ${CMAKE_CURRENT_LIST_DIR}/publisher/curl_uploader_test.cc)
target_link_libraries(uploader_test PRIVATE roomcast::uploader
  roomcast::warnings absl::synchronization absl::strings absl::time
  Threads::Threads
  GTest::gmock GTest::gtest_main)
gtest_discover_tests(uploader_test DISCOVERY_TIMEOUT 30)
