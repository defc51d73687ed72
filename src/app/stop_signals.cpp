#include <parallax/app/stop_signals.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <parallax/app/run_app.hpp>
#include <parallax/core/detail/removal_on_signal.hpp>

namespace plx {

namespace {

// Touched by the handlers: lock-free atomics and buffers written once, before the handler is installed.
std::atomic<bool> stop_flag{false};
std::atomic<bool> kill_flag{false};
std::atomic<int> signals_seen{0};
std::atomic<bool> root{true};
bool installed = false;

// end_now's line for each signal, composed at installation (the handler cannot format).
constexpr std::size_t line_size = 512;
char line_int[line_size] = {};
char line_term[line_size] = {};
char line_usr1[line_size] = {};

void write_all(int fd, const char* text) noexcept {
  std::size_t left = std::strlen(text);
  while (left > 0) {
    const ssize_t n = ::write(fd, text, left);
    if (n <= 0) return;  // async-signal-safe: no retry policy, the process ends next anyway
    text += n;
    left -= static_cast<std::size_t>(n);
  }
}

extern "C" void on_end_now(int signal) {
  // The unfinished files first: mpirun SIGKILLs about 1 s after its SIGTERM.
  detail::remove_registered_files();
  if (root.load()) {
    write_all(STDERR_FILENO, signal == SIGINT ? line_int : signal == SIGTERM ? line_term : line_usr1);
  }
  ::_exit(exit_interrupted);
}

extern "C" void on_drain(int) {
  // First signal: stop starting work. Second: stop what runs too.
  if (signals_seen.fetch_add(1) == 0) {
    stop_flag.store(true);
  } else {
    kill_flag.store(true);
  }
}

void compose(char* line, const std::string& app, const char* signal) {
  std::snprintf(line, line_size,
                "error: %s stopped by %s before finishing; nothing is kept (unfinished output files are "
                "removed): run the same command again\n",
                app.c_str(), signal);
}

// Root, as far as the launcher says before MPI starts: a signal during MPI_Init should still print once.
bool launcher_says_root() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    if (const char* value = std::getenv(name)) return std::strcmp(value, "0") == 0;
  }
  return true;
}

}  // namespace

void install_stop_signals(stop_mode mode, const std::string& app, bool usr1) {
  if (installed) return;
  installed = true;
  root.store(launcher_says_root());
  compose(line_int, app, "SIGINT");
  compose(line_term, app, "SIGTERM");
  compose(line_usr1, app, "SIGUSR1");
  struct sigaction action {};
  action.sa_handler = mode == stop_mode::end_now ? on_end_now : on_drain;
  sigemptyset(&action.sa_mask);
  // drain: blocking calls go on after the handler (the app polls the flags); end_now never returns.
  action.sa_flags = SA_RESTART;
  for (const int signal : {SIGTERM, SIGINT}) sigaction(signal, &action, nullptr);
  if (usr1) sigaction(SIGUSR1, &action, nullptr);
}

bool stop_signals_installed() noexcept { return installed; }

void set_stop_signal_root(bool is_root) noexcept { root.store(is_root); }

std::atomic<bool>& stop_requested() noexcept { return stop_flag; }

std::atomic<bool>& kill_requested() noexcept { return kill_flag; }

}  // namespace plx
