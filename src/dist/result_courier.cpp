#include <parallax/dist/detail/result_courier.hpp>

#include <cstdint>
#include <exception>
#include <memory>
#include <utility>

#include <parallax/core/detail/cached_on.hpp>

namespace plx::detail {

result_courier::result_courier() : thread_([this] { run(); }) {}

result_courier::~result_courier() {
  {
    std::lock_guard lock(mutex_);
    shutdown_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void result_courier::start(result_channel& channel, std::mutex& mpi_mutex, bool is_root, std::size_t message_bytes,
                           receive_fn receive) {
  {
    std::lock_guard lock(mutex_);
    channel_ = &channel;
    mpi_mutex_ = &mpi_mutex;
    is_root_ = is_root;
    message_bytes_ = message_bytes;
    receive_ = std::move(receive);
    outbox_.clear();
    failure_ = nullptr;
    active_ = true;
    ++call_;
    started_at_ = std::chrono::steady_clock::now();
    if (!parked_) return;  // lingering: it looks again within courier_grace
  }
  wake_.notify_all();
}

void result_courier::run() {
  std::unique_lock lock(mutex_);
  std::uint64_t served = 0;  // the last call this thread looked at
  const auto new_call = [&] { return shutdown_ || (active_ && call_ != served); };
  for (;;) {
    // Between calls the thread lingers, looking every grace period, so that a loop of small calls needs
    // no wake-up from them; after a quiet spell it parks until start() wakes it.
    const auto linger_until = std::chrono::steady_clock::now() + courier_linger;
    while (!new_call() && std::chrono::steady_clock::now() < linger_until) wake_.wait_for(lock, courier_grace);
    if (!new_call()) {
      parked_ = true;
      wake_.wait(lock, new_call);
      parked_ = false;
    }
    if (shutdown_) return;
    served = call_;
    // A call that ends within the grace period needs no courier: its results go with its final messages.
    if (wake_.wait_until(lock, started_at_ + courier_grace, [&] { return !serving_call(served); })) continue;
    serving_ = true;
    try {
      if (is_root_) {
        serve_root(lock, served);
      } else {
        serve_sender(lock, served);
      }
    } catch (...) {
      // The call goes on without the courier: finish() sends or receives the rest.
      if (!lock.owns_lock()) lock.lock();
      failure_ = std::current_exception();
    }
    serving_ = false;
    idle_.notify_all();
  }
}

void result_courier::send(std::vector<char>&& bytes) {
  std::lock_guard lock(*mpi_mutex_);
  channel_->post(std::move(bytes));
}

void result_courier::stage(const std::vector<char>& record) {
  std::vector<char> full;
  bool tell_courier = false;
  {
    std::lock_guard lock(mutex_);
    if (outbox_.empty()) {
      staged_at_ = std::chrono::steady_clock::now();
      // Only the first record of a message changes what the serving courier waits for (its deadline);
      // waking it for every record would cost a system call per chunk.
      tell_courier = serving_;
    }
    outbox_.insert(outbox_.end(), record.begin(), record.end());
    if (outbox_.size() >= message_bytes_) full.swap(outbox_);
  }
  if (!full.empty()) {
    send(std::move(full));  // big enough: no reason to wait for the courier
  } else if (tell_courier) {
    wake_.notify_all();
  }
}

void result_courier::serve_sender(std::unique_lock<std::mutex>& lock, std::uint64_t call) {
  while (serving_call(call)) {
    if (outbox_.empty()) {
      // Nothing staged: keep sends in flight progressing now and then, otherwise sleep.
      if (wake_.wait_for(lock, max_result_delay, [&] { return !serving_call(call) || !outbox_.empty(); })) continue;
      lock.unlock();
      {
        std::lock_guard mpi(*mpi_mutex_);
        channel_->progress();
      }
      lock.lock();
      continue;
    }
    const auto due = staged_at_ + max_result_delay;
    if (std::chrono::steady_clock::now() < due) {
      wake_.wait_until(lock, due, [&] { return !serving_call(call); });
      continue;
    }
    std::vector<char> bytes;
    bytes.swap(outbox_);
    lock.unlock();
    send(std::move(bytes));
    lock.lock();
  }
}

void result_courier::serve_root(std::unique_lock<std::mutex>& lock, std::uint64_t call) {
  while (serving_call(call)) {
    lock.unlock();
    pieces arrived;
    {
      std::lock_guard mpi(*mpi_mutex_);
      arrived = channel_->poll();
    }
    const bool idle = arrived.empty();
    if (!idle) receive_(std::move(arrived));
    lock.lock();
    if (idle) wake_.wait_for(lock, result_poll_period, [&] { return !serving_call(call); });
  }
}

std::vector<char> result_courier::stop_serving() noexcept {
  std::unique_lock lock(mutex_);
  active_ = false;
  if (serving_) {
    wake_.notify_all();
    idle_.wait(lock, [this] { return !serving_; });
  }
  return std::exchange(outbox_, {});
}

void result_courier::finish() {
  std::vector<char> rest = stop_serving();
  if (is_root_) {
    // A receive that failed here (a message matched, never received) leaves its sender waiting for it, so
    // that sender never says "closed": waiting for every sender would hang. This rank ends on its own.
    if (failure_) {
      try {
        std::rethrow_exception(failure_);
      } catch (const mpi_exchange_error&) {
        throw;
      } catch (...) {  // any other failure: the senders go on, and the call agrees on it later
      }
    }
    for (auto arrived = channel_->wait(); !arrived.empty(); arrived = channel_->wait()) receive_(std::move(arrived));
    return;
  }
  // Close even when the last send fails: root waits for every rank's "closed".
  std::exception_ptr failure;
  try {
    if (!rest.empty()) channel_->post(std::move(rest));
  } catch (...) {
    failure = std::current_exception();
  }
  channel_->close();
  if (failure) std::rethrow_exception(failure);
}

result_courier& cached_result_courier(const communicator& comm) {
  return cached_on<result_courier>(comm, [] { return std::make_unique<result_courier>(); });
}

}  // namespace plx::detail
