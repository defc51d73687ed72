/// @file
/// A mistyped option named, with the nearest known one, before CLI11 sees it. Left to CLI11, `plx-cosmo --nn 64`
/// takes 64 as the positional TOML file and answers "params: File does not exist: 64"; here it answers
/// "unknown option '--nn': did you mean '--n'?", as git and cargo do. run_app calls it on every app's argv.
#pragma once

#include <optional>
#include <span>
#include <string>

#include <CLI/CLI.hpp>

namespace plx {

/// The message for the first argument of `args` (argv without the program name) that looks like an option
/// but is none of `cli`'s or its subcommands' (`--name`, `--name=value`, `-x`), or nothing when there is none.
/// Negative numbers ("-1", "-0.5e3") are values, and everything after "--" is positional.
[[nodiscard]] std::optional<std::string> find_unknown_option(const CLI::App& cli, std::span<const std::string> args);

/// The known name nearest to `name` by edit distance, when it is close enough to be a likely typo (at most
/// a third of the name's letters, and at least 1, differ), else "".
[[nodiscard]] std::string nearest_name(const std::string& name, std::span<const std::string> known);

}  // namespace plx
