import { Decimal128, Double, Long } from 'bson';
import { CommandError } from './command-error.js';

/** An exact decimal (coefficient × 10^exponent), enough for Decimal128 `$inc`/`$mul`. */
export class DecimalValue {
  readonly coefficient: bigint;
  readonly exponent: number;

  private constructor(coefficient: bigint, exponent: number) {
    this.coefficient = coefficient;
    this.exponent = exponent;
  }

  /** A double converts with 15 significant digits, as mongod's Decimal128(double) does. */
  static of(value: unknown): DecimalValue {
    if (value instanceof Long) return new DecimalValue(value.toBigInt(), 0);
    const n = typeof value === 'number' ? value : value instanceof Double ? value.value : undefined;
    const text =
      value instanceof Decimal128
        ? value.toString()
        : n !== undefined && Number.isSafeInteger(n) && !(value instanceof Double)
          ? String(n)
          : Number(n).toPrecision(15);
    const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
    if (!match) throw new CommandError('BadValue', `cannot do exact arithmetic on ${text} in the MongoDB stand-in`);
    const fraction = match[3] ?? '';
    const coefficient = BigInt(`${match[1]}${match[2]}${fraction}`);
    return new DecimalValue(coefficient, Number(match[4] ?? 0) - fraction.length);
  }

  add(other: DecimalValue): DecimalValue {
    const exponent = Math.min(this.exponent, other.exponent);
    const scale = (d: DecimalValue): bigint => d.coefficient * 10n ** BigInt(d.exponent - exponent);
    return new DecimalValue(scale(this) + scale(other), exponent);
  }

  multiply(other: DecimalValue): DecimalValue {
    return new DecimalValue(this.coefficient * other.coefficient, this.exponent + other.exponent);
  }

  /** The quotient, rounded to Decimal128's 34 significant digits by `toDecimal128`. */
  divide(divisor: bigint): DecimalValue {
    const scaled = this.coefficient * 10n ** 40n;
    let coefficient = scaled / divisor;
    let exponent = this.exponent - 40;
    // An exact quotient takes the exponent nearest the dividend's (IEEE 754 decimal's preferred exponent).
    if (scaled % divisor === 0n) {
      while (exponent < this.exponent && coefficient % 10n === 0n) {
        coefficient /= 10n;
        exponent++;
      }
    }
    return new DecimalValue(coefficient, exponent);
  }

  toDecimal128(): Decimal128 {
    const text = `${this.coefficient.toString()}E${this.exponent}`;
    return Decimal128.fromStringWithRounding(text);
  }
}
