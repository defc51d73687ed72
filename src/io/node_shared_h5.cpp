#include <parallax/io/node_shared_h5.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <numeric>
#include <span>
#include <vector>

#include <mpi.h>

#include <parallax/core/error.hpp>
#include <parallax/io/slab_io.hpp>

namespace plx::io {

node_shared<double> read_node_shared(h5_file& file, const std::string& dataset_path, std::size_t max_read_bytes) {
  const std::string prefix = "read_node_shared('" + dataset_path + "' in '" + file.path() + "'): ";
  std::vector<hsize_t> dims;
  std::string failure;
  try {
    dims = dataset_dims(file, dataset_path);
    if (dims.empty()) failure = "the dataset is a scalar; a node-shared input has at least one dimension";
  } catch (const io_error& error) {
    failure = error.what();
  }
  detail::agree_or_throw(file, prefix, failure);

  const auto rows = static_cast<std::size_t>(dims[0]);
  const auto cols = static_cast<std::size_t>(
      std::accumulate(dims.begin() + 1, dims.end(), hsize_t{1}, std::multiplies<>()));
  return node_shared<double>::build(file.comm(), rows, cols, [&](std::span<double> part, std::size_t first_row) {
    if (rows * cols == 0) return;  // nothing to read, on every rank alike
    const std::size_t batch_rows = std::max<std::size_t>(1, max_read_bytes / sizeof(double) / cols);
    const std::size_t my_rows = part.size() / cols;
    // Every rank joins every collective read, with an empty share once its own rows are done.
    const std::uint64_t my_batches = (my_rows + batch_rows - 1) / batch_rows;
    std::uint64_t batches = 0;
    // Rank-local: failed here alone, the others go on into the collective reads, which no agreement matches.
    plx::detail::check_mpi_alone(MPI_Allreduce(&my_batches, &batches, 1, MPI_UINT64_T, MPI_MAX,
                                               file.comm().native()),
                                 "MPI_Allreduce");
    for (std::uint64_t b = 0; b < batches; ++b) {
      const std::size_t done = std::min<std::size_t>(b * batch_rows, my_rows);
      const std::size_t count = std::min(batch_rows, my_rows - done);
      const slab_block block{.global_dims = dims, .offset0 = first_row + done, .count0 = count, .row_stride = 0};
      read_distributed(file, dataset_path, block, part.subspan(done * cols, count * cols));
    }
  });
}

}  // namespace plx::io
