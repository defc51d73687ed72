# run_case(NAME EXPECTED_EXIT_CODE REGEX COMMAND...): runs COMMAND (in ${WORK_DIR} when set), checks its exit
# code and that stdout+stderr match REGEX, and leaves stdout in `last_output` for further checks.
function(run_case name expected_code expected_regex)
  set(where "${CMAKE_CURRENT_BINARY_DIR}")
  if(DEFINED WORK_DIR)
    set(where "${WORK_DIR}")
  endif()
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY "${where}" RESULT_VARIABLE code OUTPUT_VARIABLE out
                  ERROR_VARIABLE err TIMEOUT 120)
  set(all "${out}${err}")
  if(NOT code STREQUAL "${expected_code}")
    message(SEND_ERROR "${name}: exit code ${code}, expected ${expected_code}\n${all}")
  elseif(NOT all MATCHES "${expected_regex}")
    message(SEND_ERROR "${name}: output does not match '${expected_regex}':\n${all}")
  else()
    message(STATUS "ok: ${name}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
  set(last_output_all "${all}" PARENT_SCOPE)
endfunction()

# expect_json(NAME [KEY=VALUE...]): `last_output` is one JSON object per line (parsed by Python's json), and
# each KEY=VALUE holds in its last line.
function(expect_json name)
  set(where "${CMAKE_CURRENT_BINARY_DIR}")
  if(DEFINED WORK_DIR)
    set(where "${WORK_DIR}")
  endif()
  string(MAKE_C_IDENTIFIER "${name}" file_name)
  file(WRITE "${where}/${file_name}.json" "${last_output}")
  find_program(JSON_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH REQUIRED)
  execute_process(COMMAND ${JSON_PYTHON} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/check_json.py "${where}/${file_name}.json" ${ARGN}
                  RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
  if(NOT code EQUAL 0)
    message(SEND_ERROR "${name}: ${out}${err}")
  else()
    message(STATUS "ok: ${name}: ${out}")
  endif()
endfunction()

# expect_one_clean_line(NAME): the last run_case printed exactly one error line and no MPI_Abort banner (an
# error every rank has is printed once, by root).
function(expect_one_clean_line name)
  string(REGEX MATCHALL "error" errors "${last_output_all}")
  list(LENGTH errors count)
  if(NOT count EQUAL 1 OR last_output_all MATCHES "MPI_ABORT|MPI_Abort")
    message(SEND_ERROR "${name}: expected one error line and no MPI_Abort:\n${last_output_all}")
  endif()
endfunction()

# expect_no_file(PATH WHY): no file PATH in ${WORK_DIR}, and no temporary output file (*.tmp*) left there.
function(expect_no_file path why)
  if(EXISTS "${WORK_DIR}/${path}")
    message(SEND_ERROR "${why}: ${path} exists but should not")
  endif()
  file(GLOB leftovers "${WORK_DIR}/*.tmp*")
  if(leftovers)
    message(SEND_ERROR "${why}: temporary files left behind: ${leftovers}")
  endif()
endfunction()
