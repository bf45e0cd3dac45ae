# Script mode (cmake -P), run by the vtf_cargo target at every build:
#  1. cargo builds libvtf as staticlib + cdylib (the cdylib linked with soname
#     libvtf.so.<SOVERSION>) and prints the static library's native link flags;
#  2. the libraries are staged as an install tree would have them;
#  3. the package config and vtf.pc are generated with those link flags;
#  4. with -DBUILD_CLI=ON, the `vtf` command line is built and staged in bin/.
cmake_minimum_required(VERSION 3.18)

foreach(var CARGO MANIFEST TARGET_DIR PROFILE STAGE_DIR VERSION SOVERSION LIBDIR INCLUDEDIR
            CMAKE_DIR_TO_PREFIX PC_DIR_TO_PREFIX TEMPLATE_DIR BUILD_CLI BINDIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "CargoBuild.cmake: -D${var}= is required")
  endif()
endforeach()

if(PROFILE STREQUAL "dev" OR PROFILE STREQUAL "debug")
  set(profile_dir debug)
else()
  set(profile_dir "${PROFILE}")
endif()
set(out_dir "${TARGET_DIR}/${profile_dir}")
set(soname "libvtf.so.${SOVERSION}")
# The flags of the last build that printed them, kept beside cargo's outputs.
set(flags_cache "${out_dir}/vtf-native-static-libs.txt")

function(run_cargo)
  # `cargo rustc` passes the flags after `--` to the vtf crate only: the soname
  # reaches the cdylib's link (a staticlib ignores link args), dependencies keep
  # their fingerprints. The library alone needs no default feature (they are
  # the command line's). Cargo replays a fresh crate's cached compiler messages,
  # the native-static-libs note included.
  execute_process(
    COMMAND "${CARGO}" rustc --manifest-path "${MANIFEST}" --target-dir "${TARGET_DIR}"
            --profile "${PROFILE}" --lib --no-default-features --crate-type staticlib,cdylib
            -- -C "link-arg=-Wl,-soname,${soname}" --print native-static-libs
    RESULT_VARIABLE rc
    ERROR_VARIABLE err
    ECHO_ERROR_VARIABLE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cargo failed (exit ${rc}) building libvtf")
  endif()
  set(cargo_stderr "${err}" PARENT_SCOPE)
endfunction()

run_cargo()
set(flags "")
if(cargo_stderr MATCHES "native-static-libs: ([^\r\n]*)")
  string(STRIP "${CMAKE_MATCH_1}" flags)
  file(WRITE "${flags_cache}" "${flags}\n")
elseif(EXISTS "${flags_cache}")
  file(READ "${flags_cache}" flags)
  string(STRIP "${flags}" flags)
endif()
if(flags STREQUAL "")
  # Neither printed nor remembered: rebuild the vtf crate alone so rustc prints them.
  message(STATUS "cargo printed no native-static-libs; rebuilding the vtf crate to get them")
  execute_process(COMMAND "${CARGO}" clean --manifest-path "${MANIFEST}" --target-dir "${TARGET_DIR}"
                          --profile "${PROFILE}" -p valkey-test-framework
                  RESULT_VARIABLE rc)
  run_cargo()
  if(cargo_stderr MATCHES "native-static-libs: ([^\r\n]*)")
    string(STRIP "${CMAKE_MATCH_1}" flags)
    file(WRITE "${flags_cache}" "${flags}\n")
  else()
    message(FATAL_ERROR "rustc did not print native-static-libs for libvtf.a")
  endif()
endif()

foreach(f libvtf.a libvtf.so)
  if(NOT EXISTS "${out_dir}/${f}")
    message(FATAL_ERROR "cargo succeeded but ${out_dir}/${f} is missing")
  endif()
endforeach()

# Stage: copy only what changed so dependents do not relink for nothing.
file(MAKE_DIRECTORY "${STAGE_DIR}/lib")
execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different
                        "${out_dir}/libvtf.a" "${STAGE_DIR}/lib/libvtf.a")
execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different
                        "${out_dir}/libvtf.so" "${STAGE_DIR}/lib/libvtf.so.${VERSION}")
file(CREATE_LINK "libvtf.so.${VERSION}" "${STAGE_DIR}/lib/${soname}" SYMBOLIC)
file(CREATE_LINK "${soname}" "${STAGE_DIR}/lib/libvtf.so" SYMBOLIC)
file(WRITE "${STAGE_DIR}/native-static-libs.txt.tmp" "${flags}\n")
execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different
                        "${STAGE_DIR}/native-static-libs.txt.tmp" "${STAGE_DIR}/native-static-libs.txt")
file(REMOVE "${STAGE_DIR}/native-static-libs.txt.tmp")

if(BUILD_CLI)
  # Its own target directory: the bin links the lib built without the soname
  # argument, and in one directory each build would invalidate the other's
  # libvtf (measured: the vtf crate rebuilt twice on every cmake --build).
  execute_process(
    COMMAND "${CARGO}" build --manifest-path "${MANIFEST}" --target-dir "${TARGET_DIR}/cli"
            --profile "${PROFILE}" --bin vtf
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cargo failed (exit ${rc}) building the vtf command line")
  endif()
  file(MAKE_DIRECTORY "${STAGE_DIR}/bin")
  execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different
                          "${TARGET_DIR}/cli/${profile_dir}/vtf" "${STAGE_DIR}/bin/vtf")
endif()

# The generated files. For CMake the flags become a list of link items
# ("-lpthread;-ldl;..."); pkg-config takes them as they are.
separate_arguments(flag_list UNIX_COMMAND "${flags}")
set(VTF_NATIVE_STATIC_LIBS "${flags}")
set(VTF_VERSION "${VERSION}")
set(VTF_SOVERSION "${SOVERSION}")
set(VTF_LIBDIR "${LIBDIR}")
set(VTF_BINDIR "${BINDIR}")
set(VTF_BUILD_CLI "${BUILD_CLI}")
set(VTF_INCLUDEDIR "${INCLUDEDIR}")
set(VTF_CMAKE_DIR_TO_PREFIX "${CMAKE_DIR_TO_PREFIX}")
set(VTF_PC_DIR_TO_PREFIX "${PC_DIR_TO_PREFIX}")
configure_file("${TEMPLATE_DIR}/ValkeyTestFrameworkConfig.cmake.in"
               "${STAGE_DIR}/ValkeyTestFrameworkConfig.cmake" @ONLY)
configure_file("${TEMPLATE_DIR}/vtf.pc.in" "${STAGE_DIR}/vtf.pc" @ONLY)
