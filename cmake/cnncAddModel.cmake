# cnnc_add_model(<target> SOURCE <model.cnn>
#                [NAME <c_name>] [TRAIN] [WEIGHTS <w.safetensors>] [OPTIONS <cnnc options>...])
#
# Compiles the network while building into the shared library lib<name>.so and
# its header <name>.h (in ${CMAKE_CURRENT_BINARY_DIR}/<target>/), rebuilt when
# the model, the weights or cnnc change. <target> is a library target to link:
#
#   cnnc_add_model(lenet5 SOURCE lenet5.cnn)
#   target_link_libraries(app PRIVATE lenet5)   # #include "lenet5.h", lenet5_create()
#
# NAME is the C prefix of the library's API (default: <target>, which must
# then be a C identifier). TRAIN adds the training step (cnnc --train).
# WEIGHTS compiles a safetensors file in (cnnc --weights): <name>_create()
# starts with them. OPTIONS go to cnnc as they are (e.g. --target=host).
function(cnnc_add_model target)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "TRAIN" "SOURCE;NAME;WEIGHTS" "OPTIONS")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "cnnc_add_model(${target}): unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_SOURCE)
    message(FATAL_ERROR "cnnc_add_model(${target}): SOURCE <model.cnn> is required")
  endif()
  set(name "${target}")
  if(ARG_NAME)
    set(name "${ARG_NAME}")
  endif()
  if(NOT name MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
    message(FATAL_ERROR "cnnc_add_model(${target}): '${name}' is not a C identifier; give NAME <c_name>")
  endif()
  get_filename_component(source "${ARG_SOURCE}" ABSOLUTE)
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/${target}")
  set(library "${dir}/lib${name}.so")
  set(header "${dir}/${name}.h")
  file(MAKE_DIRECTORY "${dir}")

  set(flags "--name=${name}")
  set(depends "${source}" "$<TARGET_FILE:cnnc::cnnc>")
  if(ARG_TRAIN)
    list(APPEND flags --train)
  endif()
  if(ARG_WEIGHTS)
    get_filename_component(weights "${ARG_WEIGHTS}" ABSOLUTE)
    list(APPEND flags "--weights=${weights}")
    list(APPEND depends "${weights}")
  endif()
  add_custom_command(OUTPUT "${library}"
    COMMAND cnnc::cnnc "${source}" -o "${library}" -q ${flags} ${ARG_OPTIONS}
    DEPENDS ${depends}
    COMMENT "cnnc: compiling ${ARG_SOURCE} into lib${name}.so"
    VERBATIM)
  add_custom_command(OUTPUT "${header}"
    COMMAND cnnc::cnnc "${source}" --name=${name} --emit=header -o "${header}"
    DEPENDS "${source}" "$<TARGET_FILE:cnnc::cnnc>"
    COMMENT "cnnc: writing ${name}.h"
    VERBATIM)
  add_custom_target(${target}_cnnc DEPENDS "${library}" "${header}")

  add_library(${target} SHARED IMPORTED GLOBAL)
  set_target_properties(${target} PROPERTIES
    IMPORTED_LOCATION "${library}"
    IMPORTED_SONAME "lib${name}.so"
    INTERFACE_INCLUDE_DIRECTORIES "${dir}")
  add_dependencies(${target} ${target}_cnnc)
endfunction()
