package org.zero4j.engine.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * One JSON object of a DeepSpeed config, read field by field with typed getters whose errors name
 * the full dotted key ({@code zero_optimization.reduce_bucket_size: expected an integer, got
 * "abc"}).
 *
 * <p>Every getter records its key as known, whether or not the key is present, so that after a
 * block has been read {@link #rejectUnknown()} and {@link #unknownKeys()} can tell which keys the
 * block does not define. A JSON {@code null} reads as absent.
 */
final class ConfigNode {
  private final String path;
  private final ObjectNode node;
  private final Set<String> known = new LinkedHashSet<>();

  ConfigNode(String path, ObjectNode node) {
    this.path = path;
    this.node = node;
  }

  /** The dotted path of this object ({@code ""} at the root). */
  String path() {
    return path;
  }

  /** The dotted key of a field of this object. */
  String key(String name) {
    return path.isEmpty() ? name : path + "." + name;
  }

  /** Marks keys as known without reading them (keys handled elsewhere). */
  void accept(String... names) {
    known.addAll(List.of(names));
  }

  boolean has(String name) {
    known.add(name);
    JsonNode v = node.get(name);
    return v != null && !v.isNull();
  }

  /** The raw value, or null if absent. */
  JsonNode raw(String name) {
    known.add(name);
    JsonNode v = node.get(name);
    return v == null || v.isNull() ? null : v;
  }

  Boolean bool(String name) {
    JsonNode v = raw(name);
    if (v == null) {
      return null;
    }
    if (v.isBoolean()) {
      return v.booleanValue();
    }
    if (v.isIntegralNumber() && (v.asLong() == 0 || v.asLong() == 1)) {
      return v.asLong() == 1;
    }
    if (v.isTextual()) {
      String s = v.textValue().trim().toLowerCase(java.util.Locale.ROOT);
      if (s.equals("true") || s.equals("false")) {
        return s.equals("true");
      }
    }
    throw typeError(name, "a boolean (true or false)", v);
  }

  boolean bool(String name, boolean dflt) {
    Boolean b = bool(name);
    return b == null ? dflt : b;
  }

  /**
   * An integer. Integral floats such as {@code 5e8} and numeric strings such as {@code "5e8"} are
   * accepted (DeepSpeed casts with {@code int()}); a fractional value is an error.
   */
  Long integer(String name) {
    JsonNode v = raw(name);
    if (v == null) {
      return null;
    }
    BigDecimal d = decimal(name, v, "an integer");
    try {
      return d.stripTrailingZeros().longValueExact();
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException(
          key(name)
              + ": expected an integer, got "
              + v
              + " (a fractional or out-of-range number); write a whole number such as 500000000"
              + " or 5e8");
    }
  }

  long integer(String name, long dflt) {
    Long l = integer(name);
    return l == null ? dflt : l;
  }

  /** An integer that must fit in an {@code int}. */
  int intValue(String name, int dflt) {
    long l = integer(name, dflt);
    if (l < Integer.MIN_VALUE || l > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          key(name) + ": " + l + " is out of range for a 32-bit integer");
    }
    return (int) l;
  }

  Double number(String name) {
    JsonNode v = raw(name);
    if (v == null) {
      return null;
    }
    return decimal(name, v, "a number").doubleValue();
  }

  double number(String name, double dflt) {
    Double d = number(name);
    return d == null ? dflt : d;
  }

  String string(String name) {
    JsonNode v = raw(name);
    if (v == null) {
      return null;
    }
    if (!v.isTextual()) {
      throw typeError(name, "a string", v);
    }
    return v.textValue();
  }

  String string(String name, String dflt) {
    String s = string(name);
    return s == null ? dflt : s;
  }

  /** A nested object, or null if absent. */
  ConfigNode object(String name) {
    JsonNode v = raw(name);
    if (v == null) {
      return null;
    }
    if (!v.isObject()) {
      throw typeError(name, "an object", v);
    }
    return new ConfigNode(key(name), (ObjectNode) v);
  }

  /** A list of numbers, or null if absent. */
  double[] numbers(String name) {
    JsonNode v = raw(name);
    if (v == null) {
      return null;
    }
    if (!v.isArray()) {
      throw typeError(name, "a list of numbers", v);
    }
    double[] out = new double[v.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = decimal(name + "[" + i + "]", v.get(i), "a number").doubleValue();
    }
    return out;
  }

  /** Keys present in this object that no getter asked for. */
  List<String> unknownKeys() {
    List<String> out = new ArrayList<>();
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!known.contains(k)) {
        out.add(k);
      }
    }
    return out;
  }

  /** Throws for the first key no getter asked for, suggesting the closest known key. */
  void rejectUnknown() {
    List<String> unknown = unknownKeys();
    if (!unknown.isEmpty()) {
      String k = unknown.get(0);
      throw new IllegalArgumentException(
          key(k)
              + ": unknown key"
              + ClosestKey.suggestion(k, known)
              + " (known keys of "
              + (path.isEmpty() ? "the config" : path)
              + ": "
              + String.join(", ", known)
              + ")");
    }
  }

  /** Adds a warning for each key no getter asked for. */
  void warnUnknown(ConfigFindings findings) {
    for (String k : unknownKeys()) {
      findings.warn(key(k) + ": unknown key, ignored" + ClosestKey.suggestion(k, known));
    }
  }

  private BigDecimal decimal(String name, JsonNode v, String expected) {
    if (v.isNumber()) {
      return v.decimalValue();
    }
    if (v.isTextual()) {
      try {
        return new BigDecimal(v.textValue().trim());
      } catch (NumberFormatException e) {
        throw typeError(name, expected, v);
      }
    }
    throw typeError(name, expected, v);
  }

  private IllegalArgumentException typeError(String name, String expected, JsonNode v) {
    return new IllegalArgumentException(key(name) + ": expected " + expected + ", got " + v);
  }
}
