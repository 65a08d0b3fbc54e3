#include "jobs/job_type_template.h"

#include <algorithm>
#include <cctype>

namespace duende::jobs {
namespace {

constexpr std::string_view kFilters[] = {"dirname", "basename", "sep", "strip_suffix", "upper", "lower"};

bool KnownFilter(std::string_view name) {
  return std::find(std::begin(kFilters), std::end(kFilters), name) != std::end(kFilters);
}

std::string Quote(std::string_view text) { return "'" + std::string(text) + "'"; }

Result<TemplatePart> ParsePlaceholder(std::string_view inner, std::string_view whole) {
  TemplatePart part;
  size_t start = 0;
  bool first = true;
  while (true) {
    const size_t bar = inner.find('|', start);
    std::string_view item = inner.substr(start, bar == std::string_view::npos ? std::string_view::npos : bar - start);
    if (first) {
      if (item.empty()) return InvalidArgument("template " + Quote(whole) + " has an empty placeholder name");
      part.name = std::string(item);
      first = false;
    } else {
      TemplateFilter f;
      const size_t colon = item.find(':');
      f.name = std::string(item.substr(0, colon));
      if (colon != std::string_view::npos) f.arg = std::string(item.substr(colon + 1));
      if (!KnownFilter(f.name))
        return InvalidArgument("template " + Quote(whole) + " uses unknown filter " + Quote(f.name) +
                               " (known: dirname, basename, sep, strip_suffix:SUFFIX, upper, lower)");
      if (f.name == "strip_suffix" && f.arg.empty())
        return InvalidArgument("template " + Quote(whole) +
                               ": filter strip_suffix needs its suffix (strip_suffix:.ext)");
      part.filters.push_back(std::move(f));
    }
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  return part;
}

size_t LastSeparator(const std::string& s) { return s.find_last_of("/\\"); }

std::string ApplyFilter(std::string value, const TemplateFilter& f) {
  const size_t sep = LastSeparator(value);
  if (f.name == "dirname") return sep == std::string::npos ? "" : value.substr(0, sep);
  if (f.name == "basename") return sep == std::string::npos ? value : value.substr(sep + 1);
  if (f.name == "sep") return sep == std::string::npos ? "/" : std::string(1, value[sep]);
  if (f.name == "strip_suffix") {
    if (value.ends_with(f.arg)) value.resize(value.size() - f.arg.size());
    return value;
  }
  const bool upper = f.name == "upper";
  std::transform(value.begin(), value.end(), value.begin(),
                 [upper](unsigned char c) { return static_cast<char>(upper ? std::toupper(c) : std::tolower(c)); });
  return value;
}

}  // namespace

std::string TemplateText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  if (value.is_null()) return "";
  return value.dump();
}

Result<ParsedTemplate> ParseTemplate(std::string_view text) {
  ParsedTemplate out;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) out.parts.push_back(TemplatePart{std::move(literal), "", {}});
    literal.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      literal += c;
      ++i;
      continue;
    }
    if (c == '}') return InvalidArgument("template " + Quote(text) + " has a '}' without '{' (write '}}' for a brace)");
    if (c != '{') {
      literal += c;
      continue;
    }
    const size_t close = text.find('}', i + 1);
    const size_t nested = text.find('{', i + 1);
    if (close == std::string_view::npos || (nested != std::string_view::npos && nested < close))
      return InvalidArgument("template " + Quote(text) + " has a '{' without '}' (write '{{' for a brace)");
    auto part = ParsePlaceholder(text.substr(i + 1, close - i - 1), text);
    if (!part) return std::unexpected(part.error());
    flush();
    out.parts.push_back(std::move(*part));
    i = close;
  }
  flush();
  return out;
}

std::optional<nlohmann::json> ExpandTemplate(const ParsedTemplate& tmpl, const TemplateLookup& lookup) {
  if (tmpl.single_value()) return lookup(tmpl.parts[0].name);
  std::string out;
  for (const auto& part : tmpl.parts) {
    if (part.name.empty()) {
      out += part.text;
      continue;
    }
    auto value = lookup(part.name);
    std::string text = value ? TemplateText(*value) : "";
    for (const auto& f : part.filters) text = ApplyFilter(std::move(text), f);
    out += text;
  }
  return nlohmann::json(std::move(out));
}

Result<std::optional<nlohmann::json>> ExpandJsonTemplates(const nlohmann::json& value, const TemplateLookup& lookup) {
  if (value.is_string()) {
    auto tmpl = ParseTemplate(value.get_ref<const std::string&>());
    if (!tmpl) return std::unexpected(tmpl.error());
    return ExpandTemplate(*tmpl, lookup);
  }
  if (value.is_object() || value.is_array()) {
    nlohmann::json out = value.is_object() ? nlohmann::json::object() : nlohmann::json::array();
    for (auto it = value.begin(); it != value.end(); ++it) {
      auto expanded = ExpandJsonTemplates(*it, lookup);
      if (!expanded) return std::unexpected(expanded.error());
      if (value.is_array()) {
        out.push_back(expanded->value_or(nullptr));
      } else if (*expanded) {
        out[it.key()] = std::move(**expanded);
      }
    }
    return std::optional<nlohmann::json>(std::move(out));
  }
  return std::optional<nlohmann::json>(value);
}

Status CheckJsonTemplates(const nlohmann::json& value, const std::function<bool(const std::string&)>& known) {
  if (value.is_string()) {
    auto tmpl = ParseTemplate(value.get_ref<const std::string&>());
    if (!tmpl) return std::unexpected(tmpl.error());
    for (const auto& part : tmpl->parts)
      if (!part.name.empty() && !known(part.name))
        return InvalidArgument("template " + Quote(value.get<std::string>()) + " uses unknown name " +
                               Quote(part.name) + " (write {{" + part.name + "}} to pass it to the worker as it is)");
    return Ok();
  }
  if (value.is_object() || value.is_array())
    for (const auto& e : value)
      if (auto st = CheckJsonTemplates(e, known); !st) return st;
  return Ok();
}

}  // namespace duende::jobs
