/**
 * Bytes being received across every upload at once, bounded: each upload takes its bytes from one budget as they
 * arrive (all at once when it declares its length) and gives them back when it is saved or refused.
 */
export class ByteBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  get inFlight(): number {
    return this.used;
  }

  /** A share of the budget for one upload; `take` answers false (and takes nothing) when the budget is spent. */
  lease(): ByteLease {
    let held = 0;
    return {
      take: (bytes) => {
        if (bytes <= 0) return true;
        if (this.used + bytes > this.limit) return false;
        this.used += bytes;
        held += bytes;
        return true;
      },
      release: () => {
        this.used -= held;
        held = 0;
      },
    };
  }
}

export interface ByteLease {
  take(bytes: number): boolean;
  release(): void;
}
