"""A small real Python program for the allocator comparison (configs/allocators.toml): build a
list of order records, encode them as JSON, decode the text again, aggregate it, and drop
everything — the allocation stream of a request handler that parses and summarises a payload.
Recorded with memray by record-json-roundtrip.sh."""
import json

def orders(n):
    return [{"id": i, "customer": f"customer-{i % 97}", "items": [
        {"sku": f"sku-{(i * 7 + k) % 503}", "qty": 1 + (i + k) % 5, "price": 3.25 * (1 + k)}
        for k in range(1 + i % 6)]} for i in range(n)]

def summarise(doc):
    totals = {}
    for order in doc:
        for item in order["items"]:
            totals[item["sku"]] = totals.get(item["sku"], 0.0) + item["qty"] * item["price"]
    return sorted(totals.items(), key=lambda kv: -kv[1])[:10]

for batch in range(3):
    text = json.dumps(orders(80))
    top = summarise(json.loads(text))
    del text
print(top[0][0])
