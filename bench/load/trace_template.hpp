#pragma once
// A trace's rows rendered once, with the parts that change from one send to the next
// (row ids, times) kept as slots to overwrite. A socket producer then sends a trace
// by copying its rows and writing a few ids and times into them, instead of rendering
// and escaping every row's JSON again: rendering was 6% of the machine in a sidecar
// run on 2 cores, CPU the sidecar under test could not have.

#include "generator.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace spanline::load {

// What a send of a trace fills into its template: the ids of each span and the time.
class TraceIds {
 public:
  // Fresh ids for a trace of `spans` spans: unique per (nonce, sequence of its first span).
  void assign(std::size_t spans, std::uint64_t nonce, std::uint64_t first_sequence);
  void set_time(double unix_seconds);

  const std::vector<RowIds>& ids() const { return ids_; }
  double unix_seconds() const { return unix_seconds_; }
  std::string_view created() const { return created_; }
  std::string_view seconds() const { return seconds_; }

 private:
  std::vector<RowIds> ids_;
  double unix_seconds_ = 0;
  std::string created_;
  std::string seconds_;
};

class TraceTemplate {
 public:
  // Renders every row of `plan` (in op order) once, as render_row() would.
  TraceTemplate(const TracePlan& plan, std::string_view routing_project_id);

  std::size_t row_count() const { return rows_.size(); }
  // Appends row `index` with `with`'s ids and time: the bytes render_row() would give.
  void append_row(std::string& out, std::size_t index, const TraceIds& with) const;

 private:
  struct Row {
    std::string text;
    std::vector<RowSlot> slots;
  };
  std::vector<Row> rows_;
  std::size_t created_size_ = 0;  // of the template's own time, in each kind of slot
  std::size_t seconds_size_ = 0;
};

}  // namespace spanline::load
