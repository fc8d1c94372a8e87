# cmake -DFILE=PATH -DSIZE=BYTES -P expect_file_size.cmake: fails unless FILE has exactly SIZE bytes.
if(NOT EXISTS "${FILE}")
  message(FATAL_ERROR "${FILE} does not exist")
endif()
file(SIZE "${FILE}" actual)
if(NOT actual EQUAL SIZE)
  message(FATAL_ERROR "${FILE} has ${actual} bytes, expected ${SIZE}")
endif()
