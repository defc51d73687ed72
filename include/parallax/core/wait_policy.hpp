/// @file
/// How idle OpenMP threads wait on a crowded node, decided before MPI starts.
///
/// libgomp lets an idle worker thread spin for about 300,000 rounds (a few ms) before it sleeps, unless
/// OMP_WAIT_POLICY or GOMP_SPINCOUNT say otherwise; it reads both once, when the library is loaded, before
/// main(). That is the right choice when every thread has a core. On a crowded node (ranks x threads above the
/// cores the ranks may use: shared nodes, hyperthreads, laptops) the spinning workers of one rank take the
/// cores that another rank's master thread needs for MPI, and a small map call costs milliseconds instead of
/// microseconds (10 ms at 3 ranks x 2 threads on 2 cores, against 60 us with OMP_WAIT_POLICY=passive).
///
/// So plx::runtime, before MPI_Init, estimates from the launcher's environment whether this node is crowded
/// and, if it is and the user chose no policy, starts the program again (execve of /proc/self/exe with the
/// same command line, /proc/self/cmdline) with OMP_WAIT_POLICY=passive: the same process (same pid, which the
/// launcher tracks), before it has talked to MPI. This happens at most once (a marker variable), and the
/// re-started program removes both variables again, so that commands it starts (the task farm's) see the
/// user's environment. Setting OMP_WAIT_POLICY or GOMP_SPINCOUNT (to any value) keeps the user's choice.
///
/// The pieces are pure functions here, testable without MPI; runtime.cpp applies them.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace plx {

/// What the node's layout looks like from one rank before MPI starts.
struct crowding_facts {
  int ranks_on_node = 1;  ///< from the launcher (OMPI_COMM_WORLD_LOCAL_SIZE, MPI_LOCALNRANKS, SLURM)
  int threads = 1;        ///< OpenMP threads per rank (plx::resolve_thread_count)
  int bound_cpus = 1;     ///< cores this rank may run on (its affinity mask)
  int node_cpus = 1;      ///< online processors of the node
};

/// Whether the node is crowded in a way idle OpenMP workers make worse: more than one thread per rank,
/// and either a rank runs more threads than it has cores, or the node's ranks run more threads than the
/// cores they can use together. Without every rank's mask (known only after MPI starts), those cores are
/// taken as min(ranks x bound_cpus, node_cpus): never fewer than the true union when ranks have masks of
/// the same size, so a node found crowded is crowded (3 ranks sharing one 2-core mask: 6 threads > 2).
[[nodiscard]] bool is_crowded(const crowding_facts& facts);

/// The ranks on this node as the launcher tells them before MPI_Init: OMPI_COMM_WORLD_LOCAL_SIZE (Open MPI's
/// mpirun), MPI_LOCALNRANKS (MPICH's Hydra), else SLURM_STEP_TASKS_PER_NODE (srun: "2(x3),1"; the largest
/// count, as the node's own entry is not known before MPI starts). nullopt when none is set or readable (a
/// program started without any launcher is one rank: apply_crowded_wait_policy checks that separately).
[[nodiscard]] std::optional<int> ranks_on_node_from_launcher(const std::optional<std::string>& ompi_local_size,
                                                             const std::optional<std::string>& mpich_local_size,
                                                             const std::optional<std::string>& slurm_tasks_per_node);

/// Everything the restart decision depends on. Strings are raw environment values (unset: nullopt).
struct wait_policy_inputs {
  std::optional<std::string> omp_wait_policy;  ///< OMP_WAIT_POLICY: the user's choice, if set
  std::optional<std::string> gomp_spincount;   ///< GOMP_SPINCOUNT: also the user's choice
  bool restarted = false;                      ///< the marker of an earlier restart is set
  bool mpi_initialized = false;                ///< too late: MPI_Init has run
  std::optional<crowding_facts> facts;         ///< nullopt when the launcher did not say
};

/// Whether to start the program again with OMP_WAIT_POLICY=passive: only when the node is crowded, the rank
/// has at least as many cores as threads (else libgomp already spins only briefly, as it does when it sees
/// more threads than cores in its own process), the user set neither variable, it has not happened yet, and
/// MPI has not started.
[[nodiscard]] bool should_restart_with_passive_wait(const wait_policy_inputs& inputs);

namespace detail {

/// The variable that marks the restarted program; set together with OMP_WAIT_POLICY=passive.
inline constexpr const char* passive_restart_marker = "PLX_PASSIVE_WAIT_RESTART";

/// The command line as the kernel started the process: /proc/self/cmdline split at its NUL bytes (empty if
/// it cannot be read). Not main()'s argv, which MPI or GoogleTest may have shortened.
[[nodiscard]] std::vector<std::string> process_command_line();

/// Called by plx::runtime before MPI_Init. When should_restart_with_passive_wait() says so for this process,
/// sets OMP_WAIT_POLICY=passive and the marker and replaces the process image (execve of /proc/self/exe with
/// process_command_line()); returns only when it did not (or the execve failed: then the two variables are
/// removed again and a warning goes to stderr). In the restarted program it removes both variables and
/// returns true: idle OpenMP threads wait passively. Not thread-safe (setenv): call it before any thread
/// starts. `option_threads` is the --threads value.
bool apply_crowded_wait_policy(std::optional<int> option_threads);

/// Whether a map call starts on each rank's master thread alone and wakes the other threads only for work
/// left after a short grace (dist/detail/engine.hpp). Waking a team whose idle threads sleep costs a system
/// call and, on a crowded node, a wait for a core: about 90 us per parallel region at 3 ranks x 2 threads on
/// 2 cores, most of a small call. plx::runtime turns it on when idle threads sleep (the crowded restart, or
/// the user's OMP_WAIT_POLICY=passive) and the node's ranks can keep its cores busy with one thread each
/// (lazy_team_wake_pays), so that the master's phase leaves no core idle. Tests set it. Thread-safe.
[[nodiscard]] bool lazy_team_wake() noexcept;
void set_lazy_team_wake(bool lazy) noexcept;

/// Whether `ranks_on_node` ranks with `bound_cpus` cores each (this rank's mask; the others taken alike) keep a
/// node of `node_cpus` cores busy with one thread each: each rank bound to one core, or at least as many
/// ranks as cores.
[[nodiscard]] bool lazy_team_wake_pays(int ranks_on_node, int bound_cpus, int node_cpus) noexcept;

/// Whether an OMP_WAIT_POLICY value asks for passive waiting (libgomp reads it case-insensitively).
[[nodiscard]] bool is_passive_wait_policy(const char* value) noexcept;

}  // namespace detail

}  // namespace plx
