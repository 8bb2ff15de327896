# Debian packages with CPack (scripts/package.sh builds them, Release):
#   spanlined              the daemon: binary, systemd unit, /etc/spanline/spanlined.toml
#                          (conffile), sysusers.d, tmpfiles.d, spanlined(8)
#   libspanline<SOVERSION> the shared library (Debian names runtime packages by soname)
#   libspanline-dev        headers, the .so link, CMake package, pkg-config file
# Each carries /usr/share/doc/<package>/copyright (Apache-2.0) and changelog.gz.

set(spanline_packaging ${PROJECT_SOURCE_DIR}/packaging)
set(spanline_packaging_out ${PROJECT_BINARY_DIR}/packaging)
# The daemon's files have fixed places whatever the prefix: the unit names /usr/bin/spanlined
# and /etc/spanline/spanlined.toml, and packages install under /usr.
set(SPANLINE_CONFIG_DIR /etc/spanline CACHE PATH "Where spanlined.toml is installed")
set(SPANLINE_SYSTEMD_UNIT_DIR /lib/systemd/system CACHE PATH "Where the systemd unit is installed")
set(SPANLINE_SYSUSERS_DIR /usr/lib/sysusers.d CACHE PATH "Where the sysusers.d file is installed")
set(SPANLINE_TMPFILES_DIR /usr/lib/tmpfiles.d CACHE PATH "Where the tmpfiles.d file is installed")

# Debian wants manual pages and changelogs compressed, reproducibly (gzip -n: no name
# or timestamp inside).
configure_file(${spanline_packaging}/deb/changelog.in ${spanline_packaging_out}/changelog @ONLY)
find_program(SPANLINE_GZIP gzip REQUIRED)
foreach(pair "spanlined.8|${spanline_packaging}/spanlined.8" "changelog|${spanline_packaging_out}/changelog")
  string(REPLACE "|" ";" pair "${pair}")
  list(GET pair 0 name)
  list(GET pair 1 input)
  add_custom_command(OUTPUT ${spanline_packaging_out}/${name}.gz
    COMMAND ${SPANLINE_GZIP} -9nc ${input} > ${spanline_packaging_out}/${name}.gz
    DEPENDS ${input} VERBATIM)
  list(APPEND spanline_compressed ${spanline_packaging_out}/${name}.gz)
endforeach()
add_custom_target(spanline_packaging_files ALL DEPENDS ${spanline_compressed})

set(spanline_deb_components ${SPANLINE_RUNTIME_COMPONENT} libspanline-dev)
if(TARGET spanlined)
  list(APPEND spanline_deb_components spanlined)
  install(FILES ${spanline_packaging}/spanlined.service DESTINATION ${SPANLINE_SYSTEMD_UNIT_DIR}
          COMPONENT spanlined)
  install(FILES ${spanline_packaging}/spanlined.toml DESTINATION ${SPANLINE_CONFIG_DIR}
          COMPONENT spanlined)
  install(FILES ${spanline_packaging}/sysusers.d/spanline.conf DESTINATION ${SPANLINE_SYSUSERS_DIR}
          COMPONENT spanlined)
  install(FILES ${spanline_packaging}/tmpfiles.d/spanline.conf DESTINATION ${SPANLINE_TMPFILES_DIR}
          COMPONENT spanlined)
  install(FILES ${spanline_packaging_out}/spanlined.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8
          COMPONENT spanlined)
  install(FILES ${spanline_packaging}/deb/README.Debian DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/spanlined
          COMPONENT spanlined)
  if(EXISTS ${PROJECT_SOURCE_DIR}/docs/sidecar-protocol.md)
    install(FILES ${PROJECT_SOURCE_DIR}/docs/sidecar-protocol.md
            DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/spanlined COMPONENT spanlined)
  endif()
endif()
foreach(component IN LISTS spanline_deb_components)
  install(FILES ${spanline_packaging}/deb/copyright ${spanline_packaging_out}/changelog.gz
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${component} COMPONENT ${component})
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME spanline)
set(CPACK_PACKAGE_VENDOR "spanline")
set(CPACK_PACKAGE_CONTACT "spanline maintainers <spanline@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "ships trace spans and logs to the Braintrust API")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_COMPONENTS_ALL ${spanline_deb_components})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY "=")
set(CPACK_STRIP_FILES ON)

string(TOUPPER "${SPANLINE_RUNTIME_COMPONENT}" runtime_upper)
set(CPACK_DEBIAN_${runtime_upper}_PACKAGE_NAME ${SPANLINE_RUNTIME_COMPONENT})
# The linker cache is refreshed by dpkg's ldconfig trigger, not by maintainer scripts
# (CPack would otherwise write postinst/postrm that call ldconfig).
foreach(control postinst postrm triggers)
  configure_file(${spanline_packaging}/deb/libspanline.${control}
                 ${spanline_packaging_out}/${SPANLINE_RUNTIME_COMPONENT}/${control} COPYONLY)
  list(APPEND runtime_control_files ${spanline_packaging_out}/${SPANLINE_RUNTIME_COMPONENT}/${control})
endforeach()
set(CPACK_DEBIAN_${runtime_upper}_PACKAGE_CONTROL_EXTRA ${runtime_control_files})
set(CPACK_DEBIAN_${runtime_upper}_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_COMPONENT_${runtime_upper}_DESCRIPTION
  "spanline in-process library: ships trace spans and logs to the Braintrust API
 The runtime shared library of spanline, a C++ agent that batches, compresses
 and delivers trace spans and log rows to the Braintrust API with bounded
 memory, retries and counted drops.")

set(CPACK_DEBIAN_LIBSPANLINE-DEV_PACKAGE_NAME libspanline-dev)
set(CPACK_DEBIAN_LIBSPANLINE-DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_LIBSPANLINE-DEV_PACKAGE_DEPENDS "${SPANLINE_RUNTIME_COMPONENT} (= ${PROJECT_VERSION})")
set(CPACK_COMPONENT_LIBSPANLINE-DEV_DESCRIPTION
  "spanline in-process library: development files
 Headers, CMake package (find_package(spanline)) and pkg-config file
 (spanline.pc) for the spanline C++20 library, which ships trace spans and log
 rows to the Braintrust API.")

set(CPACK_DEBIAN_SPANLINED_PACKAGE_NAME spanlined)
set(CPACK_DEBIAN_SPANLINED_PACKAGE_SECTION net)
# adduser creates the user where systemd-sysusers is missing (containers). prerm's
# deb-systemd-invoke comes from init-system-helpers, which is essential: not declared.
set(CPACK_DEBIAN_SPANLINED_PACKAGE_DEPENDS "adduser")
# CPack takes control files by their Debian names (postinst, conffiles, ...).
foreach(control postinst prerm postrm conffiles)
  configure_file(${spanline_packaging}/deb/spanlined.${control} ${spanline_packaging_out}/spanlined/${control}
                 COPYONLY)
  list(APPEND spanlined_control_files ${spanline_packaging_out}/spanlined/${control})
endforeach()
set(CPACK_DEBIAN_SPANLINED_PACKAGE_CONTROL_EXTRA ${spanlined_control_files})
set(CPACK_DEBIAN_SPANLINED_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_COMPONENT_SPANLINED_DESCRIPTION
  "sidecar daemon that ships trace spans and logs to the Braintrust API
 spanlined receives spans and log rows as NDJSON over Unix sockets or loopback
 TCP, or through an HTTP endpoint speaking the Braintrust insert API, and
 delivers them with batching, zstd compression, retries and a durable spool.
 Runs as a hardened systemd service; Prometheus metrics on a loopback port.")

include(CPack)
