#pragma once
// A small validator for the subset of OpenAPI 3.0 schemas the Braintrust spec uses
// for events: type, nullable, properties, additionalProperties, items, required,
// minimum/maximum, $ref. Tests use it to hold emitted rows to the official spec.

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace spanline::testing {

class OpenApiSpec {
 public:
  // nullopt when the spec file is absent (tests skip with a message then).
  static std::optional<OpenApiSpec> load(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::stringstream text;
    text << in.rdbuf();
    return OpenApiSpec(boost::json::parse(text.str()).as_object());
  }

  const boost::json::object& schema(std::string_view name) const {
    return spec_.at("components").at("schemas").at(name).as_object();
  }

  // Every violation as "path: problem"; empty when `value` conforms.
  std::vector<std::string> validate(const boost::json::value& value, const boost::json::object& schema,
                                    const std::string& path = "$") const {
    std::vector<std::string> problems;
    check(value, schema, path, problems);
    return problems;
  }

 private:
  explicit OpenApiSpec(boost::json::object spec) : spec_(std::move(spec)) {}

  const boost::json::object& resolve(const boost::json::object& schema) const {
    if (const auto* ref = schema.if_contains("$ref")) {
      std::string_view target = ref->as_string();
      const std::string_view prefix = "#/components/schemas/";
      return this->schema(target.substr(prefix.size()));
    }
    return schema;
  }

  static bool type_matches(const boost::json::value& value, std::string_view type) {
    if (type == "object") return value.is_object();
    if (type == "array") return value.is_array();
    if (type == "string") return value.is_string();
    if (type == "boolean") return value.is_bool();
    if (type == "integer") return value.is_int64() || value.is_uint64();
    if (type == "number") return value.is_number();
    return true;
  }

  void check(const boost::json::value& value, const boost::json::object& raw_schema, const std::string& path,
             std::vector<std::string>& problems) const {
    const boost::json::object& schema = resolve(raw_schema);
    if (value.is_null()) {
      const auto* nullable = schema.if_contains("nullable");
      if (schema.contains("type") && !(nullable && nullable->as_bool())) problems.push_back(path + ": null not allowed");
      return;
    }
    if (const auto* any_of = schema.if_contains("anyOf")) {
      for (const auto& option : any_of->as_array()) {
        std::vector<std::string> sub;
        check(value, option.as_object(), path, sub);
        if (sub.empty()) return;
      }
      problems.push_back(path + ": matches no anyOf option");
      return;
    }
    if (const auto* type = schema.if_contains("type")) {
      if (!type_matches(value, type->as_string())) {
        problems.push_back(path + ": expected " + std::string(type->as_string()));
        return;
      }
    }
    if (const auto* enumeration = schema.if_contains("enum")) {
      bool found = false;
      for (const auto& option : enumeration->as_array()) found = found || option == value;
      if (!found) problems.push_back(path + ": not one of the enum values");
    }
    if (value.is_number()) {
      const double number = value.to_number<double>();
      if (const auto* minimum = schema.if_contains("minimum"); minimum && number < minimum->to_number<double>())
        problems.push_back(path + ": below minimum");
      if (const auto* maximum = schema.if_contains("maximum"); maximum && number > maximum->to_number<double>())
        problems.push_back(path + ": above maximum");
    }
    if (value.is_array()) {
      if (const auto* items = schema.if_contains("items")) {
        std::size_t index = 0;
        for (const auto& item : value.as_array())
          check(item, items->as_object(), path + "[" + std::to_string(index++) + "]", problems);
      }
    }
    if (value.is_object()) check_object(value.as_object(), schema, path, problems);
  }

  void check_object(const boost::json::object& object, const boost::json::object& schema, const std::string& path,
                    std::vector<std::string>& problems) const {
    const auto* properties = schema.if_contains("properties");
    const auto* additional = schema.if_contains("additionalProperties");
    for (const auto& [key, member] : object) {
      const std::string member_path = path + "." + std::string(key);
      if (properties != nullptr) {
        if (const auto* property = properties->as_object().if_contains(key)) {
          check(member, property->as_object(), member_path, problems);
          continue;
        }
      }
      if (additional == nullptr) {
        if (properties != nullptr) problems.push_back(member_path + ": not a property of the schema");
      } else if (additional->is_bool()) {
        if (!additional->as_bool()) problems.push_back(member_path + ": additional property not allowed");
      } else {
        check(member, additional->as_object(), member_path, problems);
      }
    }
    if (const auto* required = schema.if_contains("required")) {
      for (const auto& name : required->as_array())
        if (!object.contains(name.as_string())) problems.push_back(path + ": missing " + std::string(name.as_string()));
    }
  }

  boost::json::object spec_;
};

// The repository's own contract for insert events (tests/data), always present.
inline std::filesystem::path contract_path() {
  return std::filesystem::path(SPANLINE_TESTS_DIR) / "data" / "insert_events.schema.json";
}

// The official Braintrust OpenAPI spec, checked in addition where a copy sits next to the
// repository (SPANLINE_OPENAPI_SPEC); a plain clone has none.
inline std::filesystem::path official_spec_path() { return SPANLINE_OPENAPI_SPEC; }

}  // namespace spanline::testing
