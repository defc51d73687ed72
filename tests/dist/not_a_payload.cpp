// Must NOT compile: the payload_compile_error test checks that the error says why, readably.
#include <map>

#include <parallax/dist/map.hpp>

void map_with_a_result_that_cannot_travel(const plx::communicator& comm) {
  (void)plx::map(comm, 10, [](std::size_t i) { return std::map<int, int>{{int(i), 0}}; });
}
