# How the build knows its transports: each coronet_transport(<name>) line in
# the top-level CMakeLists.txt adds the folder transports/<name>, whose
# CMakeLists.txt makes the object library coronet_transport_<name> with
# coronet_transport_library(); its objects go into the coronet library, and
# its register_<name>() into the generated register_builtin_transports().

# Compiles `sources` (in transports/<name>) as the transport's own target.
# It sees the public headers only (include/), not the core's private files.
function(coronet_transport_library name)
  set(target coronet_transport_${name})
  add_library(${target} OBJECT ${ARGN})
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  target_include_directories(${target} SYSTEM PRIVATE ${ASIO_INCLUDE_DIR})
  target_compile_definitions(${target} PRIVATE ASIO_STANDALONE ASIO_NO_DEPRECATED)
  target_compile_features(${target} PRIVATE cxx_std_23)
  target_compile_options(${target} PRIVATE ${coronet_warnings})
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_sources(coronet PRIVATE $<TARGET_OBJECTS:${target}>)
endfunction()

macro(coronet_transport name)
  add_subdirectory(transports/${name})
  list(APPEND CORONET_TRANSPORTS ${name})
endmacro()

# After the last coronet_transport(): the generated registration list.
function(coronet_write_builtin_transports output)
  set(CORONET_TRANSPORT_DECLARATIONS "")
  set(CORONET_TRANSPORT_CALLS "")
  foreach(name ${CORONET_TRANSPORTS})
    string(APPEND CORONET_TRANSPORT_DECLARATIONS "void register_${name}();\n")
    string(APPEND CORONET_TRANSPORT_CALLS "  transports::register_${name}();\n")
  endforeach()
  configure_file(${PROJECT_SOURCE_DIR}/lib/builtin_transports.cpp.in ${output} @ONLY)
endfunction()
