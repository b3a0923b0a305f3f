package org.zero4j.offload;

import java.util.Locale;

/** Where offloaded state lives: DeepSpeed's {@code device} values {@code none|cpu|nvme}. */
public enum OffloadDevice {
  NONE,
  CPU,
  NVME;

  /** The JSON spelling. */
  public String jsonName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Parses {@code none}, {@code cpu} or {@code nvme}, naming {@code key} in the error. */
  public static OffloadDevice parse(String key, String value) {
    if (value != null) {
      for (OffloadDevice d : values()) {
        if (d.jsonName().equals(value)) {
          return d;
        }
      }
    }
    throw new IllegalArgumentException(
        key + " must be one of none, cpu, nvme, got \"" + value + "\"");
  }
}
