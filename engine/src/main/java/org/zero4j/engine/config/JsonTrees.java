package org.zero4j.engine.config;

import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** Parses config text into a Jackson tree, rejecting duplicate keys with the key's full path. */
final class JsonTrees {
  static final ObjectMapper MAPPER =
      JsonMapper.builder()
          .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
          .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
          .enable(SerializationFeature.INDENT_OUTPUT)
          .build();

  private JsonTrees() {}

  static ObjectNode emptyObject() {
    return MAPPER.createObjectNode();
  }

  /** Parses a config; the top level must be an object. */
  static ObjectNode parse(String json) {
    JsonNode tree;
    try {
      tree = MAPPER.readTree(json);
    } catch (JsonParseException e) {
      throw new IllegalArgumentException(describe(e), e);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("config is not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (tree == null || !tree.isObject()) {
      throw new IllegalArgumentException(
          "config must be a JSON object ({...}), got "
              + (tree == null ? "nothing" : tree.getNodeType().toString().toLowerCase()));
    }
    return (ObjectNode) tree;
  }

  private static String describe(JsonParseException e) {
    String where =
        e.getLocation() == null
            ? ""
            : " at line "
                + e.getLocation().getLineNr()
                + ", column "
                + e.getLocation().getColumnNr();
    String msg = e.getOriginalMessage();
    if (msg != null && msg.startsWith("Duplicate field") && e.getProcessor() != null) {
      JsonStreamContext ctx = e.getProcessor().getParsingContext();
      String name = ctx.getCurrentName();
      String parent = dotted(ctx.getParent());
      String key = parent.isEmpty() ? name : parent + "." + name;
      return key
          + ": duplicate key"
          + where
          + "; JSON objects must not repeat a key (DeepSpeed rejects this too), keep one";
    }
    return "config is not valid JSON" + where + ": " + msg;
  }

  private static String dotted(JsonStreamContext ctx) {
    java.util.ArrayDeque<String> parts = new java.util.ArrayDeque<>();
    for (JsonStreamContext c = ctx; c != null && !c.inRoot(); c = c.getParent()) {
      if (c.inObject() && c.getCurrentName() != null) {
        parts.addFirst("." + c.getCurrentName());
      } else if (c.inArray()) {
        parts.addFirst("[" + c.getCurrentIndex() + "]");
      }
    }
    String s = String.join("", parts);
    return s.startsWith(".") ? s.substring(1) : s;
  }
}
