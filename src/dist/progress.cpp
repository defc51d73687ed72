#include <parallax/dist/progress.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace plx {

namespace {

std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto total = static_cast<long long>(std::llround(seconds));
  return fmt::format("{}:{:02}:{:02}", total / 3600, (total / 60) % 60, total % 60);
}

constexpr int bar_width = 24;
constexpr auto terminal_period = std::chrono::milliseconds(200);

}  // namespace

std::string format_progress(const std::string& label, std::size_t done, std::size_t total, double elapsed_s,
                            bool bar) {
  const double fraction = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  const double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total - std::min(done, total)) / rate : NAN;
  std::string text = label + "  ";
  if (bar) {
    const int filled = static_cast<int>(std::floor(fraction * bar_width));
    text += '[';
    for (int i = 0; i < bar_width; ++i) text += i < filled ? '=' : (i == filled ? '>' : ' ');
    text += "]  ";
  }
  text += fmt::format("{}/{}  {:5.1f}%  {:.1f}/s  ETA {}", done, total, 100.0 * fraction, rate, clock_text(eta));
  return text;
}

progress_meter::progress_meter(std::string label, std::size_t total, bool enabled, std::FILE* stream,
                               std::chrono::duration<double> interval)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled && stream != nullptr),
      stream_(stream),
      terminal_(enabled_ && isatty(fileno(stream)) == 1),  // no system call for a meter that is off (every small call)
      interval_(interval),
      start_(clock::now()),
      next_(start_ + (terminal_ ? std::chrono::duration_cast<clock::duration>(terminal_period)
                                : std::chrono::duration_cast<clock::duration>(interval))) {}

bool progress_meter::due() const { return enabled_ && clock::now() >= next_; }

void progress_meter::update(std::size_t done, const std::string& detail) {
  if (!enabled_) return;
  const auto now = clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const std::string line = format_progress(label_, done, total_, elapsed, terminal_) + (detail.empty() ? "" : "  " + detail);
  if (terminal_) {
    std::fprintf(stream_, "\r%s\033[K", line.c_str());
    next_ = now + terminal_period;
  } else {
    std::fprintf(stream_, "%s\n", line.c_str());
    next_ = now + std::chrono::duration_cast<clock::duration>(interval_);
  }
  std::fflush(stream_);
}

void progress_meter::finish(std::size_t done, const std::string& detail) {
  if (!enabled_) return;
  const double elapsed = std::chrono::duration<double>(clock::now() - start_).count();
  const std::string line = format_progress(label_, done, total_, elapsed, terminal_) + (detail.empty() ? "" : "  " + detail);
  std::fprintf(stream_, terminal_ ? "\r%s\033[K\n" : "%s\n", line.c_str());
  std::fflush(stream_);
}

}  // namespace plx
