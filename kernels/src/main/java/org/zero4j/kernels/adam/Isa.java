package org.zero4j.kernels.adam;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The instruction-set paths compiled into the CPU Adam kernel. All three are in the one library;
 * which one runs is decided at run time from the CPU's features, or forced for tests.
 */
public enum Isa {
  /** Portable C++, baseline x86-64. */
  SCALAR(0),
  /** AVX2 with FMA and F16C, 8 floats per vector. */
  AVX2(1),
  /** AVX-512F, 16 floats per vector. */
  AVX512(2);

  /** System property that forces a path: {@code scalar}, {@code avx2}, {@code avx512} or auto. */
  public static final String PROPERTY = "zero4j.adam.isa";

  /** Environment variable read when the system property is not set; same values. */
  public static final String ENV = "ZERO4J_ADAM_ISA";

  private final int code;

  Isa(int code) {
    this.code = code;
  }

  int code() {
    return code;
  }

  /** The lower-case name used by the property and the report. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Whether this CPU (and OS) can run the path. */
  public boolean supported() {
    return AdamNative.isaSupported(code);
  }

  /** The paths this CPU can run, narrowest first. */
  public static List<Isa> supportedPaths() {
    List<Isa> out = new ArrayList<>();
    for (Isa isa : values()) {
      if (isa.supported()) {
        out.add(isa);
      }
    }
    return out;
  }

  /** The widest path this CPU supports. */
  public static Isa best() {
    List<Isa> paths = supportedPaths();
    return paths.get(paths.size() - 1);
  }

  /**
   * The path named by {@value #PROPERTY} or else {@value #ENV}; the best supported path when
   * neither is set or the value is {@code auto}.
   *
   * @throws IllegalArgumentException if the value names no path, or a path this CPU cannot run
   */
  public static Isa selected() {
    String key = PROPERTY;
    String value = System.getProperty(PROPERTY);
    if (value == null || value.isBlank()) {
      key = ENV;
      value = System.getenv(ENV);
    }
    if (value == null || value.isBlank() || value.trim().equalsIgnoreCase("auto")) {
      return best();
    }
    Isa isa = parse(key, value.trim());
    if (!isa.supported()) {
      throw new IllegalArgumentException(
          key
              + "="
              + value
              + " forces a path this CPU cannot run; supported here: "
              + supportedPaths()
              + "; unset it or pick one of those");
    }
    return isa;
  }

  private static Isa parse(String key, String value) {
    for (Isa isa : values()) {
      if (isa.label().equalsIgnoreCase(value)) {
        return isa;
      }
    }
    throw new IllegalArgumentException(
        key + "=" + value + " is not a CPU Adam path; use scalar, avx2, avx512 or auto");
  }
}
