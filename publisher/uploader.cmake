# roomcast::uploader: the publisher's HTTP uploader (Uploader interface,
# CurlUploader on libcurl). Its own target so tests can link it alone.
# Included from publisher/CMakeLists.txt.
add_library(roomcast_uploader
  ${CMAKE_CURRENT_LIST_DIR}/curl_uploader.cc)
add_library(roomcast::uploader ALIAS roomcast_uploader)
target_include_directories(roomcast_uploader PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
target_link_libraries(roomcast_uploader
  PUBLIC roomcast::base roomcast::segmenter absl::status absl::statusor absl::strings
         absl::synchronization absl::core_headers
  PRIVATE roomcast::warnings CURL::libcurl absl::random_random absl::time)
