# roomcast::uploader: CurlUploader, the publisher's Uploader (uploader.h) on
# the shared libcurl layer (http/curl.h). A target of its own so that
# uploader_test links it without the rest of the publisher. Included from
# publisher/CMakeLists.txt.
add_library(roomcast_uploader
  ${CMAKE_CURRENT_LIST_DIR}/curl_uploader.cc)
add_library(roomcast::uploader ALIAS roomcast_uploader)
target_include_directories(roomcast_uploader PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
target_link_libraries(roomcast_uploader
  PUBLIC roomcast::base roomcast::http absl::status absl::statusor
         absl::strings absl::synchronization absl::core_headers
  PRIVATE roomcast::warnings absl::time)
