# Install headers, the library and an exported package config so that a separate project can do
#   find_package(parallax REQUIRED)  and  target_link_libraries(app PRIVATE parallax::parallax)
include(CMakePackageConfigHelpers)

set(PARALLAX_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/parallax")

install(TARGETS parallax EXPORT parallaxTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/parallax DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES "${PROJECT_BINARY_DIR}/include/parallax/version.hpp"
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/parallax)
install(EXPORT parallaxTargets NAMESPACE parallax:: DESTINATION ${PARALLAX_INSTALL_CMAKEDIR})

configure_package_config_file(cmake/parallaxConfig.cmake.in
  "${PROJECT_BINARY_DIR}/parallaxConfig.cmake" INSTALL_DESTINATION ${PARALLAX_INSTALL_CMAKEDIR})
write_basic_package_version_file("${PROJECT_BINARY_DIR}/parallaxConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/parallaxConfig.cmake"
              "${PROJECT_BINARY_DIR}/parallaxConfigVersion.cmake"
              cmake/FindFFTW3.cmake cmake/FindRandom123.cmake
        DESTINATION ${PARALLAX_INSTALL_CMAKEDIR})
