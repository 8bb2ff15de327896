#pragma once
// This thread's CPU time, for rates that should not depend on what else the machine runs.

namespace spanline::load {

// Seconds of CPU time the calling thread has used so far (CLOCK_THREAD_CPUTIME_ID). It does
// not advance while the thread is descheduled, blocked or waiting, so work divided by its
// difference is what one core does, however loaded the machine is; a wall clock would count
// the time other processes held the core. Only differences taken on the same thread mean
// anything. Throws std::system_error if the clock cannot be read.
double thread_cpu_seconds();

}  // namespace spanline::load
