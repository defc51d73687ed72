/// @file
/// plx::node_shared<T>: one read-only copy of an input per node, in MPI shared memory (joblib's memmapping).
///
/// A large input that every task reads (a table, a matrix, a catalogue) is placed once per node in an MPI
/// shared-memory window (MPI_Win_allocate_shared): the node's first rank allocates it, and every rank of the
/// node maps the same physical pages. Tasks of plx::map, on every rank and thread of the node, read it
/// through a std::span or an Eigen::Map, with no copy per rank. Lifetime is RAII: the window goes with the
/// object (move-only).
///
/// @code
///   auto table = plx::node_shared<double>::from_root(rt.world(), root_table);  // root_table: root's vector
///   auto sums = plx::map(rt.world(), n, [&](std::size_t i) { return table.values()[i % table.size()]; });
/// @endcode
///
/// Sources: a std::vector held by root (sent once to each node's first rank, which fills the window), an
/// Eigen matrix held by root (read back as an Eigen::Map in the same storage order), and an HDF5 dataset
/// read in parallel straight into the window (<parallax/io/node_shared_h5.hpp>); build() takes any other
/// source that can write rows.
///
/// Nodes: ranks that share memory and, under SLURM, the same SLURM node (communicator::split_node). On a
/// real cluster these are the hosts. Where several slurmd emulate nodes on one host (the local test
/// cluster), each emulated node gets its own copy, as it would on separate machines.
///
/// Collective: every factory is collective over the communicator it is given, and the object must be
/// destroyed on every rank of a node together (MPI_Win_free). A failure on any rank (memory, MPI, a read)
/// throws the same error on every rank together. Reading is thread-safe (nobody writes after the factory
/// returns: every rank sees the whole input once it returns).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <mpi.h>

#include <Eigen/Core>

#include <parallax/core/collectives.hpp>
#include <parallax/core/communicator.hpp>
#include <parallax/core/error.hpp>
#include <parallax/dist/detail/shared_window.hpp>

namespace plx {

/// A dynamic Eigen matrix stored row by row, the order of HDF5 datasets (and of C arrays).
template <class T>
using row_major_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// One read-only copy per node of rows x cols values of T (a vector is rows x 1). Move-only.
template <class T>
class node_shared {
  static_assert(std::is_trivially_copyable_v<T>, "plx::node_shared holds trivially copyable values (raw bytes)");

 public:
  node_shared() = default;  ///< empty; assign a built one to it

  /// Collective over `comm`. Root's `root_values` on every node: root sends them once to each node's first
  /// rank (a 64-bit chunked broadcast among the nodes' first ranks), which holds them in the node's window.
  /// Only root's argument is read; other ranks may pass an empty span. Throws on every rank together.
  static node_shared from_root(const communicator& comm, std::span<const T> root_values) {
    return share_root(comm, root_values.data(), root_values.size(), 1, false);
  }
  /// Collective. The same for a vector (`std::vector` does not convert to a span in a template call).
  static node_shared from_root(const communicator& comm, const std::vector<T>& root_values) {
    return from_root(comm, std::span<const T>(root_values));
  }
  /// Collective. Root's dense Eigen matrix (or vector), kept in its storage order: read it with matrix<M>()
  /// for an M of that order (Eigen's default column-major for Eigen::MatrixXd). Only root's is read.
  template <class Derived>
  static node_shared from_root(const communicator& comm, const Eigen::PlainObjectBase<Derived>& root_matrix) {
    static_assert(std::is_same_v<typename Derived::Scalar, T>, "plx::node_shared<T>: the matrix's scalar must be T");
    return share_root(comm, root_matrix.data(), static_cast<std::size_t>(root_matrix.rows()),
                      static_cast<std::size_t>(root_matrix.cols()), !Derived::IsRowMajor && root_matrix.cols() > 1);
  }

  /// Collective over `comm`. A rows x cols row-major array per node, filled in parallel: every rank of
  /// `comm` calls `fill(std::span<T> part, std::size_t first_row)` once with its share of its node's rows
  /// (the rows [first_row, first_row + part.size() / cols); a share may be empty). `fill` may make
  /// collective calls on `comm` (parallel HDF5 reads). `rows` and `cols` must be the same on every rank
  /// (checked). If `fill` throws on any rank, every rank throws together (plx::config_error if the first
  /// failing rank threw one, else plx::io_error with its message).
  template <class Fill>
  static node_shared build(const communicator& comm, std::size_t rows, std::size_t cols, Fill&& fill) {
    const std::uint64_t mine[4] = {rows, cols, ~std::uint64_t{rows}, ~std::uint64_t{cols}};
    std::uint64_t most[4] = {};
    detail::on_all_ranks(comm, [&] {
      detail::check_mpi(MPI_Allreduce(mine, most, 4, MPI_UINT64_T, MPI_MAX, comm.native()), "MPI_Allreduce");
    });
    if (most[0] != ~most[2] || most[1] != ~most[3]) {
      // The same message on every rank: the extremes, which every rank knows.
      throw detail::collective(config_error("node_shared::build: the ranks pass different shapes (rows " +
                                            std::to_string(~most[2]) + " to " + std::to_string(most[0]) +
                                            ", cols " + std::to_string(~most[3]) + " to " +
                                            std::to_string(most[1]) + ")"));
    }
    node_shared result(comm, rows, cols, false);
    const auto node_size = static_cast<std::size_t>(result.window_.node().size());
    const auto node_rank = static_cast<std::size_t>(result.window_.node().rank());
    const std::size_t first = rows * node_rank / node_size;
    const std::size_t last = rows * (node_rank + 1) / node_size;
    try {
      detail::on_all_ranks(comm, [&] {
        fill(std::span<T>(result.mutable_data() + first * cols, (last - first) * cols), first);
      });
      result.publish(comm);
    } catch (...) {
      result.free_after_agreed_failure();
      throw;
    }
    return result;
  }

  /// Every value, in storage order. The same memory on every rank of a node.
  [[nodiscard]] std::span<const T> values() const noexcept { return {data(), size()}; }
  /// The first value, in this process's mapping of the node's window (addresses differ between ranks).
  [[nodiscard]] const T* data() const noexcept { return reinterpret_cast<const T*>(window_.data()); }
  /// Number of values, rows() * cols().
  [[nodiscard]] std::size_t size() const noexcept { return rows_ * cols_; }
  /// Whether there are no values.
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  /// Rows: a vector's length, a matrix's rows, an HDF5 dataset's dim 0.
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  /// Values per row: 1 for a vector.
  [[nodiscard]] std::size_t cols() const noexcept { return cols_; }
  /// True when the values are stored column by column (from a column-major Eigen matrix of several columns).
  [[nodiscard]] bool is_column_major() const noexcept { return column_major_; }

  /// The values as an Eigen matrix, without a copy. `Matrix` must have T as its scalar, the storage order the
  /// values have (row-major for build() and HDF5; the source's for an Eigen matrix; vectors need none) and
  /// compatible fixed sizes; else throws plx::config_error.
  template <class Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>
  [[nodiscard]] Eigen::Map<const Matrix> matrix() const {
    static_assert(std::is_same_v<typename Matrix::Scalar, T>, "plx::node_shared<T>::matrix: the scalar must be T");
    const bool ordered = rows_ <= 1 || cols_ <= 1 || bool(Matrix::IsRowMajor) == !column_major_;
    const bool sized =
        (Matrix::RowsAtCompileTime == Eigen::Dynamic || std::size_t(Matrix::RowsAtCompileTime) == rows_) &&
        (Matrix::ColsAtCompileTime == Eigen::Dynamic || std::size_t(Matrix::ColsAtCompileTime) == cols_);
    if (!ordered || !sized) {
      throw config_error("node_shared::matrix: the shared " + std::to_string(rows_) + " x " + std::to_string(cols_) +
                         (column_major_ ? " column-major" : " row-major") + " values do not fit the requested " +
                         (Matrix::IsRowMajor ? "row-major" : "column-major") + " matrix type");
    }
    return Eigen::Map<const Matrix>(data(), static_cast<Eigen::Index>(rows_), static_cast<Eigen::Index>(cols_));
  }

  /// The ranks of this node (they share this object's memory).
  [[nodiscard]] const communicator& node() const noexcept { return window_.node(); }
  /// True on the node's first rank, which allocated the memory.
  [[nodiscard]] bool is_leader() const noexcept { return window_.is_leader(); }

 private:
  node_shared(const communicator& comm, std::size_t rows, std::size_t cols, bool column_major)
      : rows_(rows), cols_(cols), column_major_(column_major) {
    // The same values on every rank, so the same verdict everywhere.
    if (cols != 0 && rows > std::numeric_limits<std::size_t>::max() / sizeof(T) / cols) {
      throw detail::collective(config_error("node_shared: " + std::to_string(rows) + " x " + std::to_string(cols) +
                                            " values overflow the address space"));
    }
    window_ = detail::shared_window(comm, rows * cols * sizeof(T));
  }

  static node_shared share_root(const communicator& comm, const T* root_data, std::size_t rows, std::size_t cols,
                                bool column_major) {
    std::uint64_t shape[3] = {rows, cols, column_major ? 1U : 0U};
    detail::on_all_ranks(comm, [&] {
      detail::check_mpi(MPI_Bcast(shape, 3, MPI_UINT64_T, 0, comm.native()), "MPI_Bcast");
    });
    node_shared result(comm, shape[0], shape[1], shape[2] != 0);
    try {
      detail::on_all_ranks(comm, [&] {
        if (!result.is_leader()) return;
        const std::span<T> all(result.mutable_data(), result.size());
        if (comm.is_root()) std::copy_n(root_data, all.size(), all.data());
        detail::broadcast_chunked(result.window_.leaders(), all, 0);
      });
      result.publish(comm);
    } catch (...) {
      result.free_after_agreed_failure();
      throw;
    }
    return result;
  }

  // Collective: the writers' stores, visible on every rank of every node; a failure anywhere fails all.
  void publish(const communicator& comm) const {
    detail::on_all_ranks(comm, [&] { window_.publish(); });
  }

  // Called in a handler of an error every rank threw together (on_all_ranks): the ranks free the window
  // together, which the destructor would not do while that error unwinds the stack.
  void free_after_agreed_failure() noexcept { window_ = detail::shared_window(); }

  T* mutable_data() const noexcept { return reinterpret_cast<T*>(window_.data()); }

  detail::shared_window window_;
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
  bool column_major_ = false;
};

}  // namespace plx
