-- Couriers ranked by orders delivered, then distance ridden, over every day in the lake.
SELECT
    deliverer_id,
    sum(orders_delivered) AS delivered,
    sum(orders) AS orders,
    round(sum(distance_km), 2) AS km,
    round(sum(active_minutes) / 60, 2) AS active_hours,
    count(*) AS days
FROM gold_deliverer_daily
GROUP BY deliverer_id
ORDER BY delivered DESC, km DESC, deliverer_id
LIMIT 10
