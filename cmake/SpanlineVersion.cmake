# One version for the whole project: project(VERSION) in the top-level CMakeLists.txt.
# It reaches C++ through generated headers, never through a second literal:
#   <spanline/version.hpp>  public, installed: SPANLINE_VERSION_STRING and its parts
#   <spanline_build_info.hpp>  private to the daemon: the git commit (spanline_build_info metric)
set(SPANLINE_GENERATED_INCLUDE_DIR ${PROJECT_BINARY_DIR}/generated/include)
configure_file(${CMAKE_CURRENT_LIST_DIR}/version.hpp.in
               ${SPANLINE_GENERATED_INCLUDE_DIR}/spanline/version.hpp @ONLY)

if(NOT SPANLINE_GIT_COMMIT)
  find_package(Git QUIET)
  if(GIT_FOUND)
    execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short=12 HEAD
                    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                    OUTPUT_VARIABLE spanline_detected_commit
                    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  endif()
  if(NOT spanline_detected_commit)
    set(spanline_detected_commit unknown)
  endif()
  set(SPANLINE_GIT_COMMIT ${spanline_detected_commit})
endif()
set(SPANLINE_PRIVATE_GENERATED_DIR ${PROJECT_BINARY_DIR}/generated/private)
configure_file(${CMAKE_CURRENT_LIST_DIR}/build_info.hpp.in
               ${SPANLINE_PRIVATE_GENERATED_DIR}/spanline_build_info.hpp @ONLY)
