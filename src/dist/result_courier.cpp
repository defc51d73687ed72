#include <parallax/dist/detail/result_courier.hpp>

#include <exception>
#include <utility>

namespace plx::detail {

result_courier::result_courier(result_channel& channel, std::mutex& mpi_mutex, bool is_root,
                               std::size_t message_bytes, receive_fn receive)
    : channel_(channel),
      mpi_mutex_(mpi_mutex),
      is_root_(is_root),
      message_bytes_(message_bytes),
      receive_(std::move(receive)),
      thread_([this] {
        try {
          if (is_root_) {
            run_root();
          } else {
            run_sender();
          }
        } catch (...) {
          failure_ = std::current_exception();
        }
      }) {}

result_courier::~result_courier() { stop_thread(); }

void result_courier::stop_thread() noexcept {
  {
    std::lock_guard lock(outbox_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void result_courier::send(std::vector<char>&& bytes) {
  std::lock_guard lock(mpi_mutex_);
  channel_.post(std::move(bytes));
}

void result_courier::stage(const std::vector<char>& record) {
  std::vector<char> full;
  {
    std::lock_guard lock(outbox_mutex_);
    if (outbox_.empty()) staged_at_ = std::chrono::steady_clock::now();
    outbox_.insert(outbox_.end(), record.begin(), record.end());
    if (outbox_.size() >= message_bytes_) full.swap(outbox_);
  }
  if (!full.empty()) {
    send(std::move(full));  // big enough: no reason to wait for the courier
  } else {
    wake_.notify_one();
  }
}

void result_courier::run_sender() {
  std::unique_lock lock(outbox_mutex_);
  while (!stopping_) {
    if (outbox_.empty()) {
      // Nothing staged: keep sends in flight progressing now and then, otherwise sleep.
      if (wake_.wait_for(lock, max_result_delay, [this] { return stopping_ || !outbox_.empty(); })) continue;
      lock.unlock();
      {
        std::lock_guard mpi(mpi_mutex_);
        channel_.progress();
      }
      lock.lock();
      continue;
    }
    const auto due = staged_at_ + max_result_delay;
    if (std::chrono::steady_clock::now() < due) {
      wake_.wait_until(lock, due, [this] { return stopping_; });
      continue;
    }
    std::vector<char> bytes;
    bytes.swap(outbox_);
    lock.unlock();
    send(std::move(bytes));
    lock.lock();
  }
}

void result_courier::run_root() {
  std::unique_lock lock(outbox_mutex_);
  while (!stopping_) {
    lock.unlock();
    pieces arrived;
    {
      std::lock_guard mpi(mpi_mutex_);
      arrived = channel_.poll();
    }
    const bool idle = arrived.empty();
    if (!idle) receive_(std::move(arrived));
    lock.lock();
    if (idle) wake_.wait_for(lock, result_poll_period, [this] { return stopping_; });
  }
}

void result_courier::finish() {
  stop_thread();
  if (is_root_) {
    for (auto arrived = channel_.wait(); !arrived.empty(); arrived = channel_.wait()) receive_(std::move(arrived));
    return;
  }
  std::vector<char> rest;
  {
    std::lock_guard lock(outbox_mutex_);
    rest.swap(outbox_);
  }
  // Close even when the last send fails: root waits for every rank's "closed".
  std::exception_ptr failure;
  try {
    if (!rest.empty()) channel_.post(std::move(rest));
  } catch (...) {
    failure = std::current_exception();
  }
  channel_.close();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace plx::detail
