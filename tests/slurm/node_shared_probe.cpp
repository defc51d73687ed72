// Run by tests/slurm/node_shared_test.sh under sbatch on several (emulated) SLURM nodes: places one input with
// plx::node_shared and reports, from root, which copy every rank maps (the backing file's device and inode,
// from /proc/self/maps) and how much PSS each node's ranks gained, so that the script can check "exactly
// one copy per node".
//
//   node_shared_probe [MiB]      (default 32)
//
// Output: one line per rank, "rank R slurm_node N node_rank K node_size S leader L copy ID pss_growth B",
// then "input_bytes B copies C leaders L".
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <mpi.h>

#include <parallax/core/collectives.hpp>
#include <parallax/core/memory_usage.hpp>
#include <parallax/core/runtime.hpp>
#include <parallax/dist/node_shared.hpp>

#include "../support/shared_mapping.hpp"

int main(int argc, char** argv) {
  try {
    plx::runtime_options options;
    options.quiet = true;
    plx::runtime rt(argc, argv, options);
    const std::size_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 32;
    const std::size_t n = mib * (std::size_t{1} << 20) / sizeof(double);
    std::vector<double> input;
    if (rt.is_root()) {
      input.resize(n);
      for (std::size_t i = 0; i < n; ++i) input[i] = static_cast<double>(i);
    }
    const std::uint64_t before = plx::current_memory_usage().pss_bytes;
    std::string line;
    {
      const auto table = plx::node_shared<double>::from_root(rt.world(), input);
      bool right = true;
      for (std::size_t i = 0; i < n; i += 512) right = right && table.values()[i] == static_cast<double>(i);
      table.node().barrier();  // every rank of the node maps every page before PSS is read
      const std::uint64_t after = plx::current_memory_usage().pss_bytes;
      const auto where = plx::testing_support::mapping_of(table.data());
      const char* slurm_node = std::getenv("SLURMD_NODENAME");
      const std::string copy = where.inode != 0 ? where.device + ":" + std::to_string(where.inode)
                                                : "private-" + std::to_string(rt.rank());
      line = "rank " + std::to_string(rt.rank()) + " slurm_node " + (slurm_node != nullptr ? slurm_node : "-") +
             " node_rank " + std::to_string(table.node().rank()) + " node_size " + std::to_string(table.node().size()) +
             " leader " + (table.is_leader() ? "1" : "0") + " copy " + copy + " pss_growth " +
             std::to_string(after > before ? after - before : 0) + (right ? "" : " WRONG-VALUES");
      table.node().barrier();  // measured everywhere before the window goes
    }
    const auto all = plx::detail::allgather_varying(rt.world(), std::span<const char>(line.data(), line.size()));
    if (rt.is_root()) {
      std::set<std::string> copies;
      int leaders = 0;
      for (int r = 0; r < rt.size(); ++r) {
        const auto part = all.part(static_cast<std::size_t>(r));
        const std::string text(part.begin(), part.end());
        std::printf("%s\n", text.c_str());
        const auto at = text.find(" copy ");
        copies.insert(text.substr(at + 6, text.find(' ', at + 6) - at - 6));
        if (text.find(" leader 1 ") != std::string::npos) ++leaders;
      }
      std::printf("input_bytes %zu copies %zu leaders %d\n", n * sizeof(double), copies.size(), leaders);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
