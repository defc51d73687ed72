# Warnings for parallax's own targets only; never added to CMAKE_CXX_FLAGS.
function(parallax_enable_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast>)
endfunction()
