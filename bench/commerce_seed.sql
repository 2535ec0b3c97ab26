-- The commerce benchmark's catalogue (bash bench/commerce.sh): 100 open shops of made-up owners,
-- 1,000 active products each (100,000), two variants per product with stock, titles from a small
-- vocabulary so a text search matches a realistic share. Run against a benchmark database only.
INSERT INTO commerce.shops (id, owner_id, handle, name, currency, created_at)
SELECT gen_random_uuid(), gen_random_uuid(), 'bench_shop_' || n, 'Bench shop ' || n, 'TZS',
       now() - interval '30 days'
FROM generate_series(1, 100) AS n;

INSERT INTO commerce.products (id, shop_id, title, description, status, options, created_at)
SELECT gen_random_uuid(), s.id,
       (ARRAY['kitenge', 'kikoi', 'sandals', 'basket', 'necklace', 'shirt', 'dress', 'bag', 'mug', 'lamp'])[1 + (n % 10)]
         || ' ' || (ARRAY['red', 'blue', 'green', 'gold', 'black', 'white', 'printed', 'woven', 'leather', 'beaded'])[1 + ((n / 10) % 10)]
         || ' ' || n,
       'Handmade in East Africa, item ' || n, 'active', ARRAY['size'],
       now() - make_interval(secs => n)
FROM (SELECT id, row_number() OVER () AS r FROM commerce.shops WHERE handle LIKE 'bench_shop_%') s,
     generate_series(1, 1000) AS g(k),
     LATERAL (SELECT (s.r - 1) * 1000 + g.k AS n) x;

INSERT INTO commerce.variants (id, product_id, position, sku, option_values, price, stock)
SELECT gen_random_uuid(), p.id, v.pos, 'SKU-' || v.pos, ARRAY[v.size], (1000 + (abs(hashtext(p.id::text)) % 500) * 100) * 100 + v.pos * 10000, 50
FROM commerce.products p JOIN commerce.shops s ON s.id = p.shop_id AND s.handle LIKE 'bench_shop_%',
     (VALUES (0, 'M'), (1, 'L')) AS v(pos, size);

UPDATE commerce.products p SET price_min = r.lo, price_max = r.hi
FROM (SELECT product_id, min(price) AS lo, max(price) AS hi FROM commerce.variants GROUP BY product_id) r
WHERE r.product_id = p.id;

INSERT INTO commerce.stock_movements (id, variant_id, kind, stock_delta, reserved_delta)
SELECT gen_random_uuid(), v.id, 'initial', v.stock, 0
FROM commerce.variants v JOIN commerce.products p ON p.id = v.product_id
JOIN commerce.shops s ON s.id = p.shop_id AND s.handle LIKE 'bench_shop_%';

ANALYZE commerce.shops;
ANALYZE commerce.products;
ANALYZE commerce.variants;
