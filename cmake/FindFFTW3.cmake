# FindFFTW3: FFTW 3.3 with its MPI and OpenMP companions.
#
# Debian ships an FFTW3Config.cmake that lacks the MPI and OpenMP libraries, so parallax finds
# FFTW itself: find_package(FFTW3 MODULE REQUIRED COMPONENTS double mpi omp).
#
# Components: double (libfftw3), mpi (libfftw3_mpi), omp (libfftw3_omp), threads (libfftw3_threads).
# Imported targets: FFTW3::fftw3, FFTW3::fftw3_mpi, FFTW3::fftw3_omp, FFTW3::fftw3_threads.
# Variables: FFTW3_FOUND, FFTW3_INCLUDE_DIR, FFTW3_<component>_FOUND.
find_path(FFTW3_INCLUDE_DIR NAMES fftw3.h)

if(NOT FFTW3_FIND_COMPONENTS)
  set(FFTW3_FIND_COMPONENTS double)
endif()

set(_fftw3_lib_double fftw3)
set(_fftw3_lib_mpi fftw3_mpi)
set(_fftw3_lib_omp fftw3_omp)
set(_fftw3_lib_threads fftw3_threads)
set(_fftw3_header_mpi fftw3-mpi.h)

foreach(_comp IN LISTS FFTW3_FIND_COMPONENTS)
  if(NOT DEFINED _fftw3_lib_${_comp})
    message(FATAL_ERROR "FindFFTW3: unknown component '${_comp}' (known: double mpi omp threads)")
  endif()
  find_library(FFTW3_${_comp}_LIBRARY NAMES ${_fftw3_lib_${_comp}})
  mark_as_advanced(FFTW3_${_comp}_LIBRARY)
  set(FFTW3_${_comp}_FOUND FALSE)
  if(FFTW3_${_comp}_LIBRARY)
    set(FFTW3_${_comp}_FOUND TRUE)
    if(DEFINED _fftw3_header_${_comp} AND NOT EXISTS "${FFTW3_INCLUDE_DIR}/${_fftw3_header_${_comp}}")
      set(FFTW3_${_comp}_FOUND FALSE)
    endif()
  endif()
endforeach()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(FFTW3 REQUIRED_VARS FFTW3_INCLUDE_DIR HANDLE_COMPONENTS)

if(FFTW3_FOUND)
  foreach(_comp IN LISTS FFTW3_FIND_COMPONENTS)
    set(_target FFTW3::${_fftw3_lib_${_comp}})
    if(FFTW3_${_comp}_FOUND AND NOT TARGET ${_target})
      add_library(${_target} UNKNOWN IMPORTED)
      set_target_properties(${_target} PROPERTIES
        IMPORTED_LOCATION "${FFTW3_${_comp}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${FFTW3_INCLUDE_DIR}")
    endif()
  endforeach()
  # The companions call into the double-precision core library.
  foreach(_companion fftw3_mpi fftw3_omp fftw3_threads)
    if(TARGET FFTW3::${_companion} AND TARGET FFTW3::fftw3)
      set_property(TARGET FFTW3::${_companion} APPEND PROPERTY INTERFACE_LINK_LIBRARIES FFTW3::fftw3)
    endif()
  endforeach()
  if(TARGET FFTW3::fftw3_mpi)
    if(TARGET MPI::MPI_C)
      set_property(TARGET FFTW3::fftw3_mpi APPEND PROPERTY INTERFACE_LINK_LIBRARIES MPI::MPI_C)
    elseif(TARGET MPI::MPI_CXX)
      set_property(TARGET FFTW3::fftw3_mpi APPEND PROPERTY INTERFACE_LINK_LIBRARIES MPI::MPI_CXX)
    endif()
  endif()
endif()
mark_as_advanced(FFTW3_INCLUDE_DIR)
