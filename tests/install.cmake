# The installed tree (headers, libraries, CMake package, pkg-config) works for a consumer.
if(NOT RL_SANITIZE AND NOT RL_FUZZ)
  add_test(NAME install_consumer
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.sh ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(install_consumer PROPERTIES TIMEOUT 300)
endif()
