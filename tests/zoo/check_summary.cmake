# Runs `cnnc MODEL --summary` and checks the parameter count against the
# published one. Invoked by ctest as
#   cmake -DCNNC=... -DMODEL=... -DEXPECTED=61100840 [-DWITHOUT_AUX=ON] -P check_summary.cmake
# EXPECTED is the published count with plain digits. WITHOUT_AUX: the model has
# auxiliary heads, so the summary must print
#   parameters in auxiliary heads: A (EXPECTED without them)
# and the total line must be A + EXPECTED.
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

if(WITHOUT_AUX)
  if(NOT out MATCHES "parameters in auxiliary heads: ([0-9,]+) \\(([0-9,]+) without them\\)")
    message(FATAL_ERROR "${MODEL} has auxiliary heads, but the summary has no "
      "'parameters in auxiliary heads: A (B without them)' line:\n${out}")
  endif()
  digits("${CMAKE_MATCH_1}" aux)
  digits("${CMAKE_MATCH_2}" main)
  message(STATUS "${MODEL}: ${aux} in auxiliary heads, ${main} without them")
  if(NOT main EQUAL EXPECTED)
    message(FATAL_ERROR "${MODEL}: ${main} parameters without auxiliary heads, published ${EXPECTED}")
  endif()
  math(EXPR sum "${aux} + ${main}")
  if(NOT total EQUAL sum)
    message(FATAL_ERROR "${MODEL}: total ${total} != ${aux} + ${main}")
  endif()
elseif(NOT total EQUAL EXPECTED)
  message(FATAL_ERROR "${MODEL}: ${total} parameters, published ${EXPECTED}")
endif()
