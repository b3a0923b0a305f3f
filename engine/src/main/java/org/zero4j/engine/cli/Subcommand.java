package org.zero4j.engine.cli;

import java.util.List;

/** One {@code zero4j} subcommand. */
@FunctionalInterface
public interface Subcommand {

  /**
   * Runs the subcommand.
   *
   * @param args the arguments after the subcommand's name
   * @return the process exit code: 0 for success, 2 for a usage error, another code for a failure
   */
  int run(List<String> args);
}
