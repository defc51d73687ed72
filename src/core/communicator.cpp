#include <parallax/core/communicator.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <parallax/core/collectives.hpp>
#include <parallax/core/error.hpp>

namespace plx {


communicator::communicator(MPI_Comm comm, bool owned) noexcept : comm_(comm), owned_(owned) {
  if (comm_ != MPI_COMM_NULL) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
}

// A communicator made on the other ranks but not on this one (its creation, or the setting of its handler,
// failed here alone) leaves them going on with it into collectives this rank never joins, and an agreement
// on the parent communicator would not match them: such a failure is rank-local (check_mpi_alone), and the
// job ends with the documented rank-local ending instead of hanging.
communicator communicator::duplicate_of(MPI_Comm comm) {
  MPI_Comm copy = MPI_COMM_NULL;
  detail::check_mpi_alone(MPI_Comm_dup(comm, &copy), "MPI_Comm_dup");
  communicator result(copy, true);
  detail::check_mpi_alone(MPI_Comm_set_errhandler(copy, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  return result;
}

communicator communicator::split(int color, int key) const {
  MPI_Comm part = MPI_COMM_NULL;
  detail::check_mpi_alone(MPI_Comm_split(comm_, color, key, &part), "MPI_Comm_split");
  communicator result(part, true);
  if (part != MPI_COMM_NULL) {
    detail::check_mpi_alone(MPI_Comm_set_errhandler(part, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  }
  return result;
}

communicator communicator::split_shared() const {
  MPI_Comm node = MPI_COMM_NULL;
  detail::check_mpi_alone(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
                          "MPI_Comm_split_type");
  communicator result(node, true);
  detail::check_mpi_alone(MPI_Comm_set_errhandler(node, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  return result;
}

communicator communicator::split_node() const {
  communicator shared = split_shared();
  // Fixed-size names so that one MPI_Allgather moves them all; SLURM node names are far shorter.
  constexpr std::size_t name_chars = 256;
  std::array<char, name_chars> mine{};
  if (const char* name = std::getenv("SLURMD_NODENAME")) std::strncpy(mine.data(), name, name_chars - 1);
  std::vector<char> names(name_chars * static_cast<std::size_t>(shared.size()));
  detail::check_mpi_alone(MPI_Allgather(mine.data(), static_cast<int>(name_chars), MPI_CHAR, names.data(),
                                        static_cast<int>(name_chars), MPI_CHAR, shared.native()),
                          "MPI_Allgather");
  // Colour: the lowest rank on this host with the same SLURM node name (the same on every rank of a node).
  int color = 0;
  while (std::strncmp(names.data() + name_chars * static_cast<std::size_t>(color), mine.data(), name_chars) != 0) {
    ++color;
  }
  return shared.split(color, shared.rank());
}

const communicator& communicator::internal() const {
  if (!internal_) internal_ = std::make_unique<communicator>(duplicate_of(comm_));
  return *internal_;
}

void communicator::barrier() const { detail::check_mpi(MPI_Barrier(comm_), "MPI_Barrier"); }

communicator::~communicator() { release(); }

communicator::communicator(communicator&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)),
      owned_(std::exchange(other.owned_, false)),
      rank_(other.rank_),
      size_(other.size_),
      internal_(std::move(other.internal_)) {}

communicator& communicator::operator=(communicator&& other) noexcept {
  if (this != &other) {
    release();
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    owned_ = std::exchange(other.owned_, false);
    rank_ = other.rank_;
    size_ = other.size_;
    internal_ = std::move(other.internal_);
  }
  return *this;
}

void communicator::release() noexcept {
  internal_.reset();  // the private duplicate goes first
  if (owned_ && comm_ != MPI_COMM_NULL) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    // Freeing after MPI_Finalize is erroneous; a communicator that outlives the runtime just leaks.
    if (!finalized && MPI_Comm_free(&comm_) != MPI_SUCCESS) {
      std::fprintf(stderr, "parallax: warning: MPI_Comm_free failed (rank %d)\n", rank_);
    }
  }
  comm_ = MPI_COMM_NULL;
  owned_ = false;
}

namespace detail {

int world_rank_or_zero() noexcept {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  int rank = 0;
  if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

std::string agree_on_failure(const communicator& comm, const std::string& local_failure) {
  // The agreement itself failing on one rank leaves the others in its next step or in the caller's next
  // collective: that rank ends alone (plx::mpi_exchange_error), never in a second agreement.
  const int mine = local_failure.empty() ? comm.size() : comm.rank();
  int first = comm.size();
  check_mpi_alone(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm.native()), "MPI_Allreduce");
  if (first == comm.size()) return {};
  std::string message = comm.rank() == first ? local_failure : std::string();
  std::uint64_t length = message.size();
  check_mpi_alone(MPI_Bcast(&length, 1, MPI_UINT64_T, first, comm.native()), "MPI_Bcast");
  message.resize(static_cast<std::size_t>(length));
  broadcast_chunked(comm, std::span<char>(message.data(), message.size()), first);
  mpi_back_in_step();  // every rank knows of the failure and throws it: they unwind together
  return message;
}

}  // namespace detail

}  // namespace plx
