# SPDX-License-Identifier: MIT
# Helpers shared by every component: libraries with enforced layering, and tests.

# Layers, lowest first. A library may link only libraries of a strictly lower layer.
set(LOOM_LAYER_common 0)
set(LOOM_LAYER_comm 1)
set(LOOM_LAYER_launch 1)
set(LOOM_LAYER_datasets 2)
set(LOOM_LAYER_sched 2)
set(LOOM_LAYER_mapreduce 3)
set(LOOM_LAYER_pregel 3)

# loom_find_pkg(<PREFIX> <pkg-config module>): find a dependency as PkgConfig::<PREFIX>,
# and record it so the installed loomConfig.cmake finds it again for consumers.
function(loom_find_pkg prefix module)
  pkg_check_modules(${prefix} REQUIRED IMPORTED_TARGET GLOBAL ${module})
  set_property(GLOBAL APPEND PROPERTY LOOM_CONFIG_PKGS
               "pkg_check_modules(${prefix} REQUIRED IMPORTED_TARGET ${module})")
  set_property(GLOBAL APPEND PROPERTY LOOM_PC_REQUIRES ${module})
endfunction()

# loom_add_library(NAME <name> SOURCES ... [LOOM_DEPS <loom libs>] [DEPS <other targets>])
# DEPS are imported targets: PkgConfig::<PREFIX> from loom_find_pkg(), or MPI::MPI_C.
# Creates target loom_<name> (file libloom-<name>), alias loom::<name>, installed and exported.
function(loom_add_library)
  cmake_parse_arguments(A "" "NAME" "SOURCES;LOOM_DEPS;DEPS" ${ARGN})
  if(NOT DEFINED LOOM_LAYER_${A_NAME})
    message(FATAL_ERROR "loom_add_library: '${A_NAME}' has no layer in LoomHelpers.cmake")
  endif()
  foreach(dep IN LISTS A_LOOM_DEPS)
    if(NOT LOOM_LAYER_${dep} LESS LOOM_LAYER_${A_NAME})
      message(FATAL_ERROR "layering: loom::${A_NAME} (layer ${LOOM_LAYER_${A_NAME}}) "
                          "may not link loom::${dep} (layer ${LOOM_LAYER_${dep}})")
    endif()
  endforeach()
  set(t loom_${A_NAME})
  add_library(${t} ${A_SOURCES})
  add_library(loom::${A_NAME} ALIAS ${t})
  set_target_properties(${t} PROPERTIES OUTPUT_NAME loom-${A_NAME} EXPORT_NAME ${A_NAME}
                        VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
  target_include_directories(${t} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_definitions(${t} PRIVATE LOOM_BUILDING)
  list(TRANSFORM A_LOOM_DEPS PREPEND loom_ OUTPUT_VARIABLE loom_deps)
  target_link_libraries(${t} PUBLIC ${loom_deps} ${A_DEPS})
  install(TARGETS ${t} EXPORT loomTargets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  set_property(GLOBAL APPEND PROPERTY LOOM_PC_LIBS -lloom-${A_NAME})
  if(MPI::MPI_C IN_LIST A_DEPS)
    set_property(GLOBAL APPEND PROPERTY LOOM_PC_REQUIRES ompi-c)
  endif()
endfunction()

# loom_add_program(NAME <exe> SOURCES ... LIBS ...): an installed executable.
function(loom_add_program)
  cmake_parse_arguments(A "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_executable(${A_NAME} ${A_SOURCES})
  target_link_libraries(${A_NAME} PRIVATE ${A_LIBS})
  install(TARGETS ${A_NAME} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()

# Environment every test runs with: Open MPI as root, yielding ranks when oversubscribed,
# sanitizer settings, and the build's bin/ first on PATH.
set(LOOM_TEST_ENV
  OMPI_ALLOW_RUN_AS_ROOT=1
  OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  OMPI_MCA_mpi_yield_when_idle=1
  OMPI_MCA_rmaps_base_oversubscribe=1
  # Debian's MPI libraries have no frame pointers: unwind slowly so leak reports reach
  # their frames and tests/lsan.supp can name them.
  "ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0"
  "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/lsan.supp:print_suppressions=0"
  "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
  "PATH=${CMAKE_BINARY_DIR}/bin:$ENV{PATH}"
  "LOOM_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
  "LOOM_BUILD_DIR=${PROJECT_BINARY_DIR}")

# loom_add_unit_test(NAME <name> SOURCES ... LIBS ... [TIMEOUT s])
# One cmocka executable per module; ctest label "unit".
function(loom_add_unit_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 60)
  endif()
  add_executable(${A_NAME} ${A_SOURCES})
  target_link_libraries(${A_NAME} PRIVATE ${A_LIBS} PkgConfig::CMOCKA)
  target_include_directories(${A_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME unit/${A_NAME} COMMAND ${A_NAME})
  set_tests_properties(unit/${A_NAME} PROPERTIES LABELS unit TIMEOUT ${A_TIMEOUT}
                       ENVIRONMENT "${LOOM_TEST_ENV}")
endfunction()

# loom_add_mpi_test(NAME <name> COMMAND <exe> [args...] [NP 1 2 3 4] [TIMEOUT s] [LABELS ...])
# Registers <name>/npN under mpiexec for each N. mpiexec exits non-zero when any rank
# does, so a failure on any rank fails the test.
function(loom_add_mpi_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "COMMAND;NP;LABELS" ${ARGN})
  if(NOT A_NP)
    set(A_NP 1 2 3 4)
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  foreach(np IN LISTS A_NP)
    set(procs ${np})
    if(procs GREATER 2)
      set(procs 2) # this class of machine has 2 cores; ranks beyond that yield
    endif()
    add_test(NAME mpi/${A_NAME}/np${np}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} --oversubscribe
                     ${A_COMMAND})
    set_tests_properties(mpi/${A_NAME}/np${np} PROPERTIES
      LABELS "mpi;${A_LABELS}" TIMEOUT ${A_TIMEOUT} PROCESSORS ${procs}
      ENVIRONMENT "${LOOM_TEST_ENV}")
  endforeach()
endfunction()

# loom_add_system_test(NAME <name> COMMAND ... [TIMEOUT s] [LABELS ...])
# End-to-end tests that drive the CLI; label "system".
function(loom_add_system_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "COMMAND;LABELS" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  add_test(NAME system/${A_NAME} COMMAND ${A_COMMAND})
  set_tests_properties(system/${A_NAME} PROPERTIES LABELS "system;${A_LABELS}"
                       TIMEOUT ${A_TIMEOUT} ENVIRONMENT "${LOOM_TEST_ENV}")
endfunction()

# loom_add_fuzz_target(NAME <n> SOURCES ... [INCLUDES dirs] [LIBS ...])
# SOURCES define LLVMFuzzerTestOneInput (plus the code under test). Builds
# fuzz_<n>_replay with tests/fuzz/replay.c and registers ctest fuzz/<n> replaying
# tests/fuzz/corpus/<n>/ (label "fuzz;unit", so CI runs it under ASan+UBSan too).
# With -DLOOM_FUZZ=ON and clang, also builds the libFuzzer binary fuzz_<n>.
function(loom_add_fuzz_target)
  cmake_parse_arguments(A "" "NAME" "SOURCES;INCLUDES;LIBS" ${ARGN})
  set(corpus ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${A_NAME})
  set(t fuzz_${A_NAME}_replay)
  add_executable(${t} ${PROJECT_SOURCE_DIR}/tests/fuzz/replay.c ${A_SOURCES})
  target_include_directories(${t} PRIVATE ${A_INCLUDES} ${PROJECT_SOURCE_DIR}/include
                             ${PROJECT_BINARY_DIR}/include)
  target_compile_definitions(${t} PRIVATE _GNU_SOURCE FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
  target_link_libraries(${t} PRIVATE ${A_LIBS})
  set_target_properties(${t} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME fuzz/${A_NAME} COMMAND ${t} ${corpus})
  set_tests_properties(fuzz/${A_NAME} PROPERTIES LABELS "fuzz;unit" TIMEOUT 120
                       ENVIRONMENT "${LOOM_TEST_ENV}")
  if(LOOM_FUZZ AND CMAKE_C_COMPILER_ID STREQUAL "Clang")
    set(f fuzz_${A_NAME})
    add_executable(${f} ${A_SOURCES})
    target_include_directories(${f} PRIVATE ${A_INCLUDES} ${PROJECT_SOURCE_DIR}/include
                               ${PROJECT_BINARY_DIR}/include)
    target_compile_definitions(${f} PRIVATE _GNU_SOURCE FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
    target_compile_options(${f} PRIVATE -fsanitize=fuzzer,address,undefined -g)
    target_link_options(${f} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${f} PRIVATE ${A_LIBS})
    set_target_properties(${f} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  endif()
endfunction()
