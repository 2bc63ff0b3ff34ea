import { Binary, Double, Long, ObjectId, Timestamp, UUID } from 'bson';
import { describe, expect, it } from 'vitest';
import { ResumeToken } from '../../../src/testing/mongo/resume-token.js';

/**
 * The stand-in's resume tokens against tokens a real mongod issued. The
 * example is the insert event printed on the MongoDB manual's page
 * "Resume a Change Stream" (changeStreams/#resume-tokens-from-change-events);
 * the layout is mongod's src/mongo/db/pipeline/resume_token.cpp (KeyString of
 * clusterTime, version 2, tokenType 128, txnOpIndex, fromInvalidate, uuid,
 * eventIdentifier).
 */
describe('ResumeToken', () => {
  const manualExample =
    '82635019A0000000012B042C0100296E5A1004AB1154ACACD849A48C61756D70D3B21F463C6F7065726174696F6E54797065003C696E736572740046646F63756D656E744B65790046645F69640064635019A078BE67426D7CF4D2000004';

  it("encodes the manual's insert event byte for byte", () => {
    const token = ResumeToken.encode({
      clusterTime: new Timestamp({ t: 0x635019a0, i: 1 }),
      tokenType: 'event',
      txnOpIndex: 0,
      fromInvalidate: false,
      uuid: new UUID('ab1154ac-acd8-49a4-8c61-756d70d3b21f'),
      eventIdentifier: { operationType: 'insert', documentKey: { _id: new ObjectId('635019a078be67426d7cf4d2') } },
    });
    expect(token).toEqual({ _data: manualExample });
  });

  it('encodes a string _id as mongod does (an update event printed by mongosh)', () => {
    // Token of an update event on {_id: 'beer'} (t 1700267321, i 1), as a real 7.0 server printed it.
    const token = ResumeToken.encode({
      clusterTime: new Timestamp({ t: 1700267321, i: 1 }),
      tokenType: 'event',
      txnOpIndex: 0,
      fromInvalidate: false,
      uuid: new UUID('a7f55a5b-35bd-4c7d-b2cd-56c6cfea9c49'),
      eventIdentifier: { operationType: 'update', documentKey: { _id: 'beer' } },
    });
    expect(token._data).toBe(
      '8265580539000000012B042C0100296E5A1004A7F55A5B35BD4C7DB2CD56C6CFEA9C49463C6F7065726174696F6E54797065003C7570646174650046646F63756D656E744B657900463C5F6964003C6265657200000004',
    );
  });

  it('decodes what it needs to resume: cluster time, token type, txnOpIndex, fromInvalidate', () => {
    expect(ResumeToken.decode({ _data: manualExample })).toEqual({
      clusterTime: new Timestamp({ t: 0x635019a0, i: 1 }),
      tokenType: 'event',
      txnOpIndex: 0,
      fromInvalidate: false,
    });
    const mark = ResumeToken.encode({ clusterTime: new Timestamp({ t: 7, i: 3 }), tokenType: 'highWaterMark', txnOpIndex: 0, fromInvalidate: false });
    expect(ResumeToken.decode(mark)).toMatchObject({ tokenType: 'highWaterMark', clusterTime: new Timestamp({ t: 7, i: 3 }) });
    const inTxn = ResumeToken.encode({
      clusterTime: new Timestamp({ t: 7, i: 3 }),
      tokenType: 'event',
      txnOpIndex: 300,
      fromInvalidate: true,
      eventIdentifier: { operationType: 'drop' },
    });
    expect(ResumeToken.decode(inTxn)).toMatchObject({ txnOpIndex: 300, fromInvalidate: true });
  });

  it('adds _typeBits only when a number is not an int32 (key_string.h TypeBits)', () => {
    const base = { clusterTime: new Timestamp({ t: 1, i: 1 }), tokenType: 'event', txnOpIndex: 0, fromInvalidate: false } as const;
    expect(ResumeToken.encode({ ...base, eventIdentifier: { operationType: 'insert', documentKey: { _id: 5 } } })._typeBits).toBeUndefined();
    // Bits in order: version, tokenType, txnOpIndex (int: 00 each), 'insert' (string: 0), then the _id.
    // int64 is 0b01 (kLong, high bit first): bit 8 → two bytes 00 01, behind the size byte 0x82.
    const long = ResumeToken.encode({ ...base, eventIdentifier: { operationType: 'insert', documentKey: { _id: Long.fromNumber(5) } } });
    expect(long._typeBits).toEqual(new Binary(Buffer.from([0x82, 0x00, 0x01]), 0));
    // The int 5 and the int64 5 share their KeyString bytes (2B0A), as in an index.
    expect(long._data).toContain('2B0A');
    const double = ResumeToken.encode({ ...base, eventIdentifier: { operationType: 'insert', documentKey: { _id: new Double(1.5) } } });
    // double is 0b10 (kDouble): bits 7 and 8 → bytes 80 00 (a byte is added for every bit started), size byte 0x82.
    expect(double._typeBits).toEqual(new Binary(Buffer.from([0x82, 0x80, 0x00]), 0));
  });

  it('refuses malformed tokens as mongod does', () => {
    expect(() => ResumeToken.decode({ _data: 1 })).toThrow(expect.objectContaining({ code: 40647 }) as Error);
    expect(() => ResumeToken.decode({ _data: 'zz' })).toThrow(expect.objectContaining({ code: 9 }) as Error);
  });
});
