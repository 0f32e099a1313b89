# Runs `cnnc MODEL --summary` and checks the parameter count against the
# published one. Invoked by ctest as
#   cmake -DCNNC=... -DMODEL=... -DEXPECTED=61100840 [-DWITHOUT_AUX=ON] -P check_summary.cmake
# EXPECTED is the published count with plain digits; the summary's last line,
#   total parameters: N [(T with auxiliary heads)]
# must give N == EXPECTED. WITHOUT_AUX: the model has auxiliary heads, so the
# summary must also print
#   parameters in auxiliary heads (training only): A
# with T == N + A.
foreach(v CNNC MODEL EXPECTED)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "check_summary.cmake: -D${v}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${CNNC} ${MODEL} --summary
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cnnc ${MODEL} --summary failed (${rc}):\n${out}${err}")
endif()

function(digits text result)
  string(REPLACE "," "" text "${text}")
  set(${result} "${text}" PARENT_SCOPE)
endfunction()

if(NOT out MATCHES "total parameters: ([0-9,]+)")
  message(FATAL_ERROR "no 'total parameters:' line in:\n${out}")
endif()
digits("${CMAKE_MATCH_1}" total)
message(STATUS "${MODEL}: total parameters ${total}")

if(NOT total EQUAL EXPECTED)
  message(FATAL_ERROR "${MODEL}: ${total} parameters, published ${EXPECTED}")
endif()
if(WITHOUT_AUX)
  if(NOT out MATCHES "parameters in auxiliary heads \\(training only\\): ([0-9,]+)")
    message(FATAL_ERROR "${MODEL} has auxiliary heads, but the summary has no "
      "'parameters in auxiliary heads (training only): A' line:\n${out}")
  endif()
  digits("${CMAKE_MATCH_1}" aux)
  if(NOT out MATCHES "total parameters: [0-9,]+ \\(([0-9,]+) with auxiliary heads\\)")
    message(FATAL_ERROR "${MODEL}: the total line does not give the count with auxiliary heads:\n${out}")
  endif()
  digits("${CMAKE_MATCH_1}" all)
  message(STATUS "${MODEL}: ${aux} in auxiliary heads, ${all} with them")
  math(EXPR sum "${aux} + ${total}")
  if(NOT all EQUAL sum)
    message(FATAL_ERROR "${MODEL}: ${all} with auxiliary heads != ${aux} + ${total}")
  endif()
endif()
