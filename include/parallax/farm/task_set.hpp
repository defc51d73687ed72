/// @file
/// The task set of a task farm: the list of shell commands `plx-run` runs over MPI ranks.
///
/// A task set comes from a commands file (one shell command per line) or from a parameter sweep (a TOML
/// file with a command template and the values to put into it). Either way every task gets a stable id,
/// its 0-based index in the set, and a label for logs. The set's fingerprint hashes every command in
/// order, so a journal written by an interrupted run (say, one that hit its SLURM time limit) can refuse
/// to resume against a file that has since changed: a resume trusts the ids, and changed commands would
/// make it skip or rerun the wrong work. The task set is pure description: it reads one file, starts no
/// processes and needs no MPI (every rank may load the same file, or rank 0 loads it and broadcasts).
///
/// @code{.unparsed}
/// Commands file:                          Sweep (TOML), 3 x 2 = 6 tasks:
///   # comment                               command = "sim --x {x} --name {name} > out_{x}_{name}.txt"
///   ./simulate --seed 1 > out_1.txt         [parameters]
///                                           x = [1, 2, 3]
///   ./simulate --seed 2 > out_2.txt         name = ["a", "b"]
/// @endcode
/// gives ids 0, 1 with labels "line 2", "line 4"; the sweep gives "sim --x 1 --name a > out_1_a.txt"
/// (label "x=1 name=a"), then x=1 name=b, x=2 name=a, ... (the first parameter in the file varies slowest).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace plx::farm {

/// One shell command of a task set.
struct task {
  std::uint64_t id = 0;  ///< 0-based index in the task set; stable as long as the file's fingerprint is
  std::string command;   ///< passed to the shell as written (no quoting is added)
  std::string label;     ///< where it came from, for logs: "line 12" (commands file) or "x=1 y=a" (sweep)

  /// Equal when id, command and label are.
  bool operator==(const task&) const = default;
};

/// The commands of a task farm, in order, with a fingerprint of the whole list. A value type: cheap to
/// query, safe to share between threads for reading.
class task_set {
 public:
  /// Most tasks a sweep may expand to. Guards against a range such as {start = 0, stop = 1e12} filling
  /// the memory of every rank before anything runs.
  static constexpr std::uint64_t max_sweep_tasks = 10'000'000;

  /// Reads a commands file: one shell command per line. Lines that are empty or blank, and lines whose
  /// first non-blank character is '#', are skipped; a trailing "\r" (a file from Windows) is dropped;
  /// everything else, leading and trailing blanks included, is the command. The id of a command is its
  /// index among the kept lines, its label "line N" with N the 1-based line number in the file.
  /// @throws plx::config_error  the file is missing or unreadable (path and the system's reason), has no
  ///   commands ("no tasks in FILE"), or a command ends in '\' (a shell continuation: each line is a task
  ///   of its own, so a command split over lines would run as broken pieces; "FILE:N: ...").
  [[nodiscard]] static task_set from_command_file(const std::string& path);

  /// Expands a parameter sweep written in TOML:
  ///
  ///     command = "simulate --x {x} --name {name} --seed {seed} > out_{x}_{name}_{seed}.txt"
  ///     mode = "product"          # optional: "product" (the default) or "zip"
  ///     [parameters]
  ///     x = [1, 2, 3]             # a list of strings, integers, floats or booleans
  ///     name = ["a", "b"]
  ///     seed = { start = 0, stop = 10, step = 2 }     # a range: 0, 2, 4, 6, 8
  ///
  /// - `{name}` in the command is replaced by a value of parameter `name`; `{{` and `}}` are literal
  ///   braces (so a shell `${HOME}` is written `${{HOME}}`). Values go in as plain text, unquoted: quote
  ///   in the template where the shell needs it, e.g. `--title '{title}'`.
  /// - Every `{...}` must name a parameter, and every parameter must appear in the command (an unused
  ///   one is almost always a typo, and would silently multiply the tasks).
  /// - Ranges: `stop` is exclusive and required, as is `start`; `step` > 0, default 1. All integers give
  ///   integers; any float makes a float range, whose values are start + i * step rounded to the decimals
  ///   of start and step, so {start = 0.0, stop = 0.3, step = 0.1} gives 0.0, 0.1, 0.2 (not
  ///   0.30000000000000004 and friends).
  /// - product: every combination; parameters are ordered as they appear in the file (not by name), and
  ///   the first varies slowest, like nested loops written in that order. zip: all parameters must have
  ///   the same number of values; task i takes value i of each.
  /// - Values print as written in TOML: strings verbatim, integers in decimal, booleans as true/false,
  ///   floats in the shortest form that reads back to the same number, keeping a ".0" on whole numbers
  ///   (0.1 -> "0.1", 2.0 -> "2.0", 1e-7 -> "1e-07"; Python's repr() gives the same).
  /// - Labels list the parameters in order: "x=1 name=a seed=0".
  /// @throws plx::config_error  naming the file and, where there is one, the line and key: unreadable
  ///   file, TOML syntax, a missing `command` or `[parameters]`, an unknown top-level key or mode, a
  ///   `{...}` naming no parameter (the message lists the known ones), a parameter the command never
  ///   uses, an unclosed '{' or a lone '}', an empty list, values that are not strings, integers, floats
  ///   or booleans, a bad range (non-numeric, step <= 0, stop <= start, unknown key), zip lists of
  ///   different lengths (names and lengths), more than max_sweep_tasks tasks.
  [[nodiscard]] static task_set from_sweep_file(const std::string& path);

  /// from_sweep_file for a path ending in ".toml" (in any case), from_command_file for anything else.
  /// @throws plx::config_error  as those do
  [[nodiscard]] static task_set load(const std::string& path);

  /// The tasks in id order: tasks()[i].id == i.
  [[nodiscard]] const std::vector<task>& tasks() const noexcept { return tasks_; }
  /// Number of tasks.
  [[nodiscard]] std::size_t size() const noexcept { return tasks_.size(); }

  /// 16 lower-case hex digits: FNV-1a (64 bit) over the number of tasks and each command preceded by its
  /// length, all as little-endian 64-bit integers and raw bytes. The same on every build and machine (it
  /// is written to journals and compared on resume). Reordering, editing, adding or removing a command
  /// changes it; comments, blank lines and labels do not enter it.
  [[nodiscard]] std::string fingerprint() const;

 private:
  explicit task_set(std::vector<task> tasks) : tasks_(std::move(tasks)) {}

  std::vector<task> tasks_;
};

}  // namespace plx::farm
