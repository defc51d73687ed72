#include <parallax/farm/task_set.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <parallax/core/error.hpp>

#include "../support/temp_files.hpp"

namespace {

using plx::farm::task;
using plx::farm::task_set;

using plx::testing_support::message_of;
using plx::testing_support::temp_path;
using plx::testing_support::write_file;

std::string sweep_error(const std::string& toml) {
  const std::string path = write_file("error.toml", toml);
  return message_of([&] { (void)task_set::from_sweep_file(path); });
}

std::vector<std::string> commands_of(const task_set& set) {
  std::vector<std::string> out;
  for (const auto& t : set.tasks()) out.push_back(t.command);
  return out;
}

std::vector<std::string> sweep(const std::string& toml) {
  return commands_of(task_set::from_sweep_file(write_file("sweep.toml", toml)));
}

// ---- commands file ---------------------------------------------------------------------------------

TEST(FarmTaskSetCommandFile, keeps_commands_with_ids_and_line_labels) {
  const auto path = write_file("commands.txt",
                               "# header comment\n"
                               "\n"
                               "echo a\r\n"
                               "   \t\n"
                               "  # indented comment\n"
                               "  echo b  \n"
                               "echo c # not a comment: the shell sees it");  // no final newline
  const auto set = task_set::from_command_file(path);
  ASSERT_EQ(set.size(), 3u);
  EXPECT_EQ(set.tasks()[0], (task{0, "echo a", "line 3"}));
  EXPECT_EQ(set.tasks()[1], (task{1, "  echo b  ", "line 6"}));
  EXPECT_EQ(set.tasks()[2], (task{2, "echo c # not a comment: the shell sees it", "line 7"}));
}

TEST(FarmTaskSetCommandFile, missing_file_names_path_and_reason) {
  const std::string path = ::testing::TempDir() + "/plx_task_set_does_not_exist.txt";
  const auto message = message_of([&] { (void)task_set::from_command_file(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
}

TEST(FarmTaskSetCommandFile, directory_is_unreadable) {
  const std::string path = temp_path("a_directory");
  std::filesystem::create_directories(path);
  const auto message = message_of([&] { (void)task_set::from_command_file(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("Is a directory"), std::string::npos) << message;
}

TEST(FarmTaskSetCommandFile, only_comments_or_nothing_is_an_error) {
  for (const std::string text : {"", "\n\n", "# one\n  # two\r\n\t\n"}) {
    const auto path = write_file("empty.txt", text);
    EXPECT_NE(message_of([&] { (void)task_set::from_command_file(path); }).find("no tasks in " + path),
              std::string::npos);
  }
}

TEST(FarmTaskSetCommandFile, continuation_line_is_an_error_with_its_line) {
  const auto path = write_file("continued.txt", "echo a\n./long_command --a 1 \\\n   --b 2\n");
  const auto message = message_of([&] { (void)task_set::from_command_file(path); });
  EXPECT_NE(message.find(path + ":2:"), std::string::npos) << message;
  EXPECT_NE(message.find("one line"), std::string::npos) << message;
}

// ---- sweep: expansion ------------------------------------------------------------------------------

TEST(FarmTaskSetSweep, product_nests_in_file_order_first_slowest) {
  const auto set = task_set::from_sweep_file(write_file("product.toml", R"(
command = "sim --x {x} --name {name} > out_{x}_{name}.txt"
[parameters]
x = [1, 2, 3]
name = ["a", "b"]
)"));
  ASSERT_EQ(set.size(), 6u);
  EXPECT_EQ(set.tasks()[0], (task{0, "sim --x 1 --name a > out_1_a.txt", "x=1 name=a"}));
  EXPECT_EQ(set.tasks()[1], (task{1, "sim --x 1 --name b > out_1_b.txt", "x=1 name=b"}));
  EXPECT_EQ(set.tasks()[2], (task{2, "sim --x 2 --name a > out_2_a.txt", "x=2 name=a"}));
  EXPECT_EQ(set.tasks()[5], (task{5, "sim --x 3 --name b > out_3_b.txt", "x=3 name=b"}));
  for (std::size_t i = 0; i < set.size(); ++i) EXPECT_EQ(set.tasks()[i].id, i);
}

TEST(FarmTaskSetSweep, file_order_wins_over_name_order) {
  // toml++ stores keys sorted; the sweep still nests zeta (written first) outside alpha.
  EXPECT_EQ(sweep(R"(
mode = "product"
command = "{alpha}{zeta}"
[parameters]
zeta = ["z1", "z2"]
alpha = ["a1", "a2"]
)"),
            (std::vector<std::string>{"a1z1", "a2z1", "a1z2", "a2z2"}));
}

TEST(FarmTaskSetSweep, zip_pairs_values_by_position) {
  const auto set = task_set::from_sweep_file(write_file("zip.toml", R"(
command = "run {x} {name} {x}"
mode = "zip"
[parameters]
x = [1, 2, 3]
name = ["a", "b", "c"]
)"));
  ASSERT_EQ(set.size(), 3u);
  EXPECT_EQ(set.tasks()[0], (task{0, "run 1 a 1", "x=1 name=a"}));
  EXPECT_EQ(set.tasks()[2], (task{2, "run 3 c 3", "x=3 name=c"}));
}

TEST(FarmTaskSetSweep, integer_ranges) {
  EXPECT_EQ(sweep("command = \"s {seed}\"\n[parameters]\nseed = { start = 0, stop = 10, step = 2 }\n"),
            (std::vector<std::string>{"s 0", "s 2", "s 4", "s 6", "s 8"}));
  EXPECT_EQ(sweep("command = \"s {seed}\"\n[parameters]\nseed = { start = -2, stop = 1 }\n"),
            (std::vector<std::string>{"s -2", "s -1", "s 0"}));
  EXPECT_EQ(sweep("command = \"s {seed}\"\n[parameters]\nseed = { start = 0, stop = 9, step = 3 }\n"),
            (std::vector<std::string>{"s 0", "s 3", "s 6"}));
  // A range as a full table and as dotted keys.
  EXPECT_EQ(sweep("command = \"s {n}\"\n[parameters.n]\nstart = 5\nstop = 7\n"), (std::vector<std::string>{"s 5", "s 6"}));
}

TEST(FarmTaskSetSweep, float_ranges_round_to_the_written_decimals) {
  EXPECT_EQ(sweep("command = \"{t}\"\n[parameters]\nt = { start = 0.0, stop = 0.3, step = 0.1 }\n"),
            (std::vector<std::string>{"0.0", "0.1", "0.2"}));
  EXPECT_EQ(sweep("command = \"{t}\"\n[parameters]\nt = { start = 0, stop = 1, step = 0.25 }\n"),
            (std::vector<std::string>{"0.0", "0.25", "0.5", "0.75"}));
  EXPECT_EQ(sweep("command = \"{t}\"\n[parameters]\nt = { start = 0.5, stop = 3 }\n"),
            (std::vector<std::string>{"0.5", "1.5", "2.5"}));
  const auto tenths = sweep("command = \"{t}\"\n[parameters]\nt = { start = 0.0, stop = 1.0, step = 0.1 }\n");
  EXPECT_EQ(tenths, (std::vector<std::string>{"0.0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"}));
  EXPECT_EQ(sweep("command = \"{t}\"\n[parameters]\nt = { start = 1e-5, stop = 3e-5, step = 1e-5 }\n"),
            (std::vector<std::string>{"1e-05", "2e-05"}));
}

TEST(FarmTaskSetSweep, values_print_as_written) {
  EXPECT_EQ(sweep(R"(
command = "{v}"
[parameters]
v = [1, -3, 1_000, 0x10, 0.1, 2.0, -0.5, 1e-7, 1.5e20, 100.0, true, false, "two words", "", 'C:\dir']
)"),
            (std::vector<std::string>{"1", "-3", "1000", "16", "0.1", "2.0", "-0.5", "1e-07", "1.5e+20", "100.0", "true",
                                      "false", "two words", "", "C:\\dir"}));
}

TEST(FarmTaskSetSweep, doubled_braces_are_literal) {
  EXPECT_EQ(sweep(R"(
command = "echo {{x}} ${{HOME}} {x} }}{{"
[parameters]
x = [7]
)"),
            (std::vector<std::string>{"echo {x} ${HOME} 7 }{"}));
}

TEST(FarmTaskSetSweep, ten_thousand_tasks_expand_quickly) {
  const auto started = std::chrono::steady_clock::now();
  const auto set = task_set::from_sweep_file(write_file("big.toml", R"(
command = "simulate --a {a} --b {b} --c {c} > out_{a}_{b}_{c}.txt"
[parameters]
a = { start = 0, stop = 100 }
b = { start = 0.0, stop = 2.5, step = 0.25 }
c = ["x", "y", "z", "w", "v", "u", "t", "s", "r", "q"]
)"));
  const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_EQ(set.size(), 10'000u);
  EXPECT_EQ(set.tasks().front().command, "simulate --a 0 --b 0.0 --c x > out_0_0.0_x.txt");
  EXPECT_EQ(set.tasks().back(), (task{9'999, "simulate --a 99 --b 2.25 --c q > out_99_2.25_q.txt", "a=99 b=2.25 c=q"}));
  EXPECT_LT(elapsed_s, 2.0);  // milliseconds in practice; generous for loaded CI machines
}

// ---- sweep: errors ---------------------------------------------------------------------------------

void expect_contains(const std::string& message, const std::vector<std::string>& parts) {
  for (const auto& part : parts) EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
}

TEST(FarmTaskSetSweepErrors, file_and_syntax) {
  const std::string missing = ::testing::TempDir() + "/plx_task_set_missing.toml";
  expect_contains(message_of([&] { (void)task_set::from_sweep_file(missing); }), {missing, "No such file or directory"});
  expect_contains(sweep_error("command = \"a {x}\"\n[parameters]\nx = [1, 2\n"), {"error.toml:3"});
}

TEST(FarmTaskSetSweepErrors, command_missing_or_not_a_string) {
  expect_contains(sweep_error("[parameters]\nx = [1]\n"), {"error.toml", "no 'command'"});
  expect_contains(sweep_error("command = 3\n[parameters]\nx = [1]\n"), {"error.toml:1", "not a string"});
  expect_contains(sweep_error("command = \"\"\n[parameters]\nx = [1]\n"), {"error.toml:1", "empty"});
}

TEST(FarmTaskSetSweepErrors, unknown_top_level_key_and_mode) {
  expect_contains(sweep_error("command = \"a {x}\"\nmodes = \"zip\"\n[parameters]\nx = [1]\n"),
                  {"error.toml:2", "unknown key 'modes'"});
  expect_contains(sweep_error("command = \"a {x}\"\nmode = \"cartesian\"\n[parameters]\nx = [1]\n"),
                  {"error.toml:2", "'cartesian'", "product, zip"});
  expect_contains(sweep_error("command = \"a {x}\"\nmode = 1\n[parameters]\nx = [1]\n"), {"error.toml:2", "product, zip"});
}

TEST(FarmTaskSetSweepErrors, parameters_missing_or_empty) {
  expect_contains(sweep_error("command = \"a\"\n"), {"no [parameters]"});
  expect_contains(sweep_error("command = \"a\"\n[parameters]\n"), {"error.toml:2", "empty"});
  expect_contains(sweep_error("command = \"a\"\nparameters = 3\n"), {"error.toml:2", "must be a table"});
}

TEST(FarmTaskSetSweepErrors, template_names_an_unknown_parameter) {
  expect_contains(sweep_error("command = \"a {x} {foo}\"\n[parameters]\nx = [1]\nname = [\"a\"]\n"),
                  {"error.toml:1", "{foo} in command names no parameter; known: x, name"});
  expect_contains(sweep_error("command = \"a {x} {}\"\n[parameters]\nx = [1]\n"), {"{} in command names no parameter"});
}

TEST(FarmTaskSetSweepErrors, unused_parameter) {
  expect_contains(sweep_error("command = \"a {x}\"\n[parameters]\nx = [1]\nseeed = [1, 2]\n"),
                  {"error.toml:4", "'seeed' is never used"});
}

TEST(FarmTaskSetSweepErrors, unbalanced_braces) {
  expect_contains(sweep_error("command = \"a {x\"\n[parameters]\nx = [1]\n"), {"error.toml:1", "unclosed '{' at column 3"});
  expect_contains(sweep_error("command = \"a {x {x}\"\n[parameters]\nx = [1]\n"), {"unclosed '{' at column 3"});
  expect_contains(sweep_error("command = \"a {x} }\"\n[parameters]\nx = [1]\n"), {"lone '}' at column 7", "'}}'"});
}

TEST(FarmTaskSetSweepErrors, bad_ranges) {
  const auto range = [](const std::string& inline_table) {
    return sweep_error("command = \"a {r}\"\n[parameters]\nr = " + inline_table + "\n");
  };
  expect_contains(range("{ start = 0, stop = 10, step = 0 }"), {"error.toml:3", "range 'r'", "step must be > 0"});
  expect_contains(range("{ start = 0, stop = 10, step = -1 }"), {"step must be > 0"});
  expect_contains(range("{ start = 0.0, stop = 1.0, step = 0.0 }"), {"step must be > 0"});
  expect_contains(range("{ start = 5, stop = 5 }"), {"must be greater than start"});
  expect_contains(range("{ start = 1.5, stop = 0.5 }"), {"must be greater than start"});
  expect_contains(range("{ start = \"a\", stop = 3 }"), {"error.toml:3", "start is a string, not a number"});
  expect_contains(range("{ start = 0, stop = true }"), {"stop is a boolean, not a number"});
  expect_contains(range("{ start = 0, stop = inf }"), {"must be finite"});
  expect_contains(range("{ start = 0 }"), {"has no stop"});
  expect_contains(range("{ stop = 3 }"), {"has no start"});
  expect_contains(range("{ start = 0, end = 3 }"), {"unknown key 'end'"});
}

TEST(FarmTaskSetSweepErrors, lists_empty_or_with_bad_values) {
  expect_contains(sweep_error("command = \"a {x}\"\n[parameters]\nx = []\n"), {"error.toml:3", "'x' is an empty list"});
  expect_contains(sweep_error("command = \"a {x}\"\n[parameters]\nx = [1, [2, 3]]\n"),
                  {"error.toml:3", "value 2 is a list", "strings, integers, floats or booleans"});
  expect_contains(sweep_error("command = \"a {x}\"\n[parameters]\nx = [{ y = 1 }]\n"), {"value 1 is a table"});
  expect_contains(sweep_error("command = \"a {x}\"\n[parameters]\nx = [1979-05-27]\n"), {"value 1 is a date"});
  expect_contains(sweep_error("command = \"a {x}\"\n[parameters]\nx = 5\n"), {"error.toml:3", "'x' is an integer", "a list"});
}

TEST(FarmTaskSetSweepErrors, zip_lengths_differ) {
  expect_contains(sweep_error("command = \"{x}{name}\"\nmode = \"zip\"\n[parameters]\nx = [1, 2, 3]\nname = [\"a\", \"b\"]\n"),
                  {"zip", "x has 3", "name has 2"});
}

TEST(FarmTaskSetSweepErrors, too_many_tasks) {
  expect_contains(sweep_error("command = \"{a}{b}\"\n[parameters]\na = { start = 0, stop = 10000 }\nb = { start = 0, stop = 10000 }\n"),
                  {"error.toml:2", "(a: 10000, b: 10000) is more than the 10000000 tasks"});
  expect_contains(sweep_error("command = \"{a}\"\n[parameters]\na = { start = 0, stop = 1_000_000_000_000 }\n"),
                  {"range 'a' has 1000000000000 values"});
  expect_contains(sweep_error("command = \"{a}\"\n[parameters]\na = { start = 0.0, stop = 1.0, step = 1e-300 }\n"),
                  {"range 'a' has about"});
}

// ---- load and fingerprint --------------------------------------------------------------------------

TEST(FarmTaskSetLoad, dispatches_on_extension) {
  const std::string sweep_text = "command = \"echo {x}\"\n[parameters]\nx = [1, 2]\n";
  EXPECT_EQ(commands_of(task_set::load(write_file("a.toml", sweep_text))), (std::vector<std::string>{"echo 1", "echo 2"}));
  EXPECT_EQ(task_set::load(write_file("b.TOML", sweep_text)).size(), 2u);
  // Anything else is a commands file, whatever it holds.
  EXPECT_EQ(commands_of(task_set::load(write_file("c.txt", sweep_text))),
            (std::vector<std::string>{"command = \"echo {x}\"", "[parameters]", "x = [1, 2]"}));
  EXPECT_EQ(task_set::load(write_file("tasks", "echo 1\n")).size(), 1u);
}

TEST(FarmTaskSetFingerprint, is_pinned_across_builds) {
  // Journals store this value; changing the hash would make every interrupted run unresumable.
  // Reference computed independently (Python): FNV-1a 64 over u64le(count), then u64le(len) + bytes.
  EXPECT_EQ(task_set::from_command_file(write_file("pinned.txt", "echo a\necho b\n")).fingerprint(), "e910dd32d93f1efa");
  const auto fingerprint = task_set::from_command_file(write_file("hex.txt", "x\n")).fingerprint();
  EXPECT_EQ(fingerprint.size(), 16u);
  EXPECT_EQ(fingerprint.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(FarmTaskSetFingerprint, ignores_comments_blank_lines_and_line_endings) {
  const auto of = [](const std::string& name, const std::string& text) {
    return task_set::from_command_file(write_file(name, text)).fingerprint();
  };
  const auto base = of("f1.txt", "echo a\necho b\n");
  EXPECT_EQ(of("f2.txt", "echo a\necho b\n"), base);
  EXPECT_EQ(of("f3.txt", "# run these\n\necho a\n   \n# the second\necho b"), base);
  EXPECT_EQ(of("f4.txt", "echo a\r\necho b\r\n"), base);
  // The same commands from a sweep: the fingerprint is over commands, not over how they were written.
  EXPECT_EQ(task_set::from_sweep_file(write_file("f5.toml", "command = \"echo {x}\"\n[parameters]\nx = [\"a\", \"b\"]\n"))
                .fingerprint(),
            base);
}

TEST(FarmTaskSetFingerprint, changes_with_any_command_change) {
  const auto of = [](const std::string& text) { return task_set::from_command_file(write_file("g.txt", text)).fingerprint(); };
  const auto base = of("echo a\necho b\n");
  for (const std::string changed : {"echo a\necho c\n", "echo b\necho a\n", "echo a\necho b\necho c\n", "echo a\n",
                                    "echo a\necho  b\n", "echo a\necho b \n", "echo a\necho a\necho b\n"}) {
    EXPECT_NE(of(changed), base) << changed;
  }
  // Lengths are hashed too, so where one command ends and the next begins matters.
  EXPECT_NE(of("ab\nc\n"), of("a\nbc\n"));
}

}  // namespace
