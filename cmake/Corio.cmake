# Helpers shared by the directory CMakeLists files.

# corio_glob_library(<target> <dir> [DEPS <libs...>])
# A static library of every .c file in <dir>, or nothing when <dir> has none yet.
# The library is recorded in the global property CORIO_LIBRARIES, which tests link.
function(corio_glob_library target dir)
  cmake_parse_arguments(A "" "" "DEPS;INCLUDES" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${dir}/*.c)
  if(NOT srcs)
    return()
  endif()
  add_library(${target} STATIC ${srcs})
  target_include_directories(${target} PUBLIC ${CMAKE_SOURCE_DIR}/include ${dir} ${A_INCLUDES})
  target_link_libraries(${target} PUBLIC ${A_DEPS})
  set_property(GLOBAL APPEND PROPERTY CORIO_LIBRARIES ${target})
endfunction()

# corio_link_if(<target> <libs...>): link the libraries among <libs> that exist.
function(corio_link_if target)
  foreach(lib ${ARGN})
    if(TARGET ${lib})
      target_link_libraries(${target} PRIVATE ${lib})
    endif()
  endforeach()
endfunction()
