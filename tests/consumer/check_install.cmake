# Installs the build into a scratch prefix, builds tests/consumer against it with find_package, and runs it.
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "failed (${code}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

step(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
step(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/build" -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release
     "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}")
step(${CMAKE_COMMAND} --build "${WORK_DIR}/build" -j 2)
step(${MPIEXEC} --oversubscribe -n 2 "${WORK_DIR}/build/consumer")

# The installed apps run by name, as README's commands paste once PATH has the prefix's bin (./bootstrap.sh
# install prints that line), and plx-plot draws a file's pictures with the installed scripts.
set(ENV{PATH} "${prefix}/bin:$ENV{PATH}")
file(MAKE_DIRECTORY "${WORK_DIR}/run")
execute_process(COMMAND ${MPIEXEC} --oversubscribe -n 2 plx-cosmo --n 16 --times 0,1 --out c.h5 --quiet
                WORKING_DIRECTORY "${WORK_DIR}/run" RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 0)
  message(FATAL_ERROR "plx-cosmo by name from the prefix failed (${code}):\n${out}\n${err}")
endif()
execute_process(COMMAND plx-plot c.h5 --dpi 30 WORKING_DIRECTORY "${WORK_DIR}/run" RESULT_VARIABLE code
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 0 OR NOT EXISTS "${WORK_DIR}/run/power_spectrum.png")
  message(FATAL_ERROR "plx-plot from the prefix failed (${code}):\n${out}\n${err}")
endif()
execute_process(COMMAND plx-plot "${WORK_DIR}/run/c.xmf" RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 2 OR NOT err MATCHES "not a readable HDF5 file")
  message(FATAL_ERROR "plx-plot on a file that is not HDF5: exit ${code}, expected 2 with a reason:\n${out}\n${err}")
endif()
# The installed Python reader opens the file with the PYTHONPATH line ./bootstrap.sh install prints.
find_program(system_python3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(system_python3)
  set(ENV{PYTHONPATH} "${prefix}/share/parallax/python")
  execute_process(COMMAND ${system_python3} -c "import parallax; print(sorted(parallax.open('c.h5')))"
                  WORKING_DIRECTORY "${WORK_DIR}/run" RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0 OR NOT out MATCHES "/power_spectrum")
    message(FATAL_ERROR "the installed parallax.open failed (${code}):\n${out}\n${err}")
  endif()
endif()
message(STATUS "ok: the installed plx-cosmo, plx-plot and parallax.open run by name")
