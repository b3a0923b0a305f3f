package org.zero4j.engine.launch;

import java.util.Map;
import java.util.OptionalInt;
import org.bytedeco.pytorch.global.torch;

/**
 * Sets libtorch's intra-op thread count from what the launcher chose for this rank.
 *
 * <p>The system property {@value #PROPERTY} wins (set by {@code zero4j launch}); else {@code
 * OMP_NUM_THREADS} (set by torchrun, {@code srun --cpus-per-task} wrappers, or the user). With
 * neither, libtorch keeps its own default of one thread per core, which oversubscribes the CPU when
 * several ranks share a node.
 */
public final class IntraOpThreads {

  /** System property carrying a rank's intra-op thread count. */
  public static final String PROPERTY = "zero4j.intraOpThreads";

  /** The environment variable OpenMP and libtorch read for the same count. */
  public static final String ENV = "OMP_NUM_THREADS";

  private IntraOpThreads() {}

  /**
   * Calls {@code torch.set_num_threads} with the configured count, if any.
   *
   * @return the count applied, or empty when neither the property nor the variable is set
   * @throws IllegalArgumentException when the configured value is not a positive integer
   */
  public static OptionalInt apply() {
    OptionalInt threads = configured(System.getProperty(PROPERTY), System.getenv());
    threads.ifPresent(torch::set_num_threads);
    return threads;
  }

  /**
   * The thread count from a property value (may be null) and an environment, without touching
   * libtorch. For {@code OMP_NUM_THREADS} lists such as {@code 4,2} (one entry per nesting level)
   * the first entry counts.
   */
  public static OptionalInt configured(String property, Map<String, String> env) {
    if (property != null && !property.isBlank()) {
      return OptionalInt.of(positive(property, "-D" + PROPERTY));
    }
    String omp = env.get(ENV);
    if (omp != null && !omp.isBlank()) {
      return OptionalInt.of(positive(omp.split(",", 2)[0], ENV));
    }
    return OptionalInt.empty();
  }

  private static int positive(String raw, String name) {
    try {
      int n = Integer.parseInt(raw.strip());
      if (n >= 1) {
        return n;
      }
    } catch (NumberFormatException e) {
      // falls through to the error below, which names the setting
    }
    throw new IllegalArgumentException(
        name + "='" + raw + "' is not a positive integer; set it to the threads per rank, e.g. 4");
  }
}
