/// @file
/// Progress of a long call, printed on root's stderr: a bar that redraws in place on a terminal, plain
/// lines at most every few seconds otherwise (SLURM output files stay readable).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

namespace plx {

/// "label  [=====>    ]  1234/10000  12.3%  456.7/s  ETA 0:01:23" (bar only when `bar`).
[[nodiscard]] std::string format_progress(const std::string& label, std::size_t done, std::size_t total,
                                          double elapsed_s, bool bar);

/// The progress display of one long call on root: a bar on a terminal, a line every few seconds otherwise.
class progress_meter {
 public:
  /// Prints nothing unless `enabled`. `stream` decides the style: a terminal gets a bar redrawn
  /// every 0.2 s, anything else a line every `interval`.
  progress_meter(std::string label, std::size_t total, bool enabled, std::FILE* stream,
                 std::chrono::duration<double> interval);

  /// Whether it prints at all.
  [[nodiscard]] bool enabled() const noexcept { return enabled_; }
  /// True when a line is due now (cheap; call it before fetching `done` from elsewhere).
  [[nodiscard]] bool due() const;
  /// `detail` is appended to the line (e.g. "3 failed, 4 running").
  void update(std::size_t done, const std::string& detail = {});
  /// Final line (with a newline on a terminal).
  void finish(std::size_t done, const std::string& detail = {});

 private:
  using clock = std::chrono::steady_clock;
  std::string label_;
  std::size_t total_;
  bool enabled_;
  std::FILE* stream_;
  bool terminal_;
  std::chrono::duration<double> interval_;
  clock::time_point start_;
  clock::time_point next_;
};

}  // namespace plx
