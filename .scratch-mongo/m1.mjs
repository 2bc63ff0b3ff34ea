import { Query, Aggregator, update, find } from 'mingo';
import { ObjectId, Long } from 'bson';
const id = new ObjectId();
const docs = [{_id: id, a: 1, b: 'x', c: {d: 1, e: 2}}, {_id: new ObjectId(), a: 2, b: 'y', c: {d: 3, e: 4}, tags: ['p','q']}];
console.log(find(docs, {_id: new ObjectId(id.toHexString())}).all().length);
console.log(find(docs, {}, {b: 1, a: 1}).all());
console.log(find(docs, {}, {'c.e': 1, _id: 0}).all());
console.log(find(docs, {}, {c: 0}).all());
console.log(find(docs, {}, {tags: {$slice: 1}}).all());
const d = {_id: 1, a: 1, arr: [1,2,3]};
try { console.log(update(d, {$setOnInsert: {x: 1}})); } catch (e) { console.log('err', e.message); }
try { console.log(update(d, {$inc: {a: 'x'}})); } catch (e) { console.log('err', e.message); }
try { console.log(update(d, {$set: {'arr.$': 9}}, [], {arr: 2}), d); } catch (e) { console.log('err', e.message); }
try { console.log(find(docs, {a: {$foo: 1}}).all()); } catch (e) { console.log('err', e.constructor.name, e.message); }
try { console.log(new Aggregator([{$foo: 1}], {}).run(docs)); } catch (e) { console.log('err', e.constructor.name, e.message); }
console.log(new Aggregator([{$project: {b: 1, x: {$add: ['$a', 1]}}}], {}).run(docs));
console.log(find(docs, {}).sort({a: -1}).all().map(d => d.a), docs[0] === find(docs, {}).sort({a: -1}).all()[1]);
console.log(new Aggregator([{$lookup: {from: 'o', localField: 'a', foreignField: 'k', as: 'j'}}], {collectionResolver: (n) => [{k: 1, n}]}).run(docs));
console.log(new Aggregator([{$addFields: {z: 1}}], {}).run(docs), docs[0]);
