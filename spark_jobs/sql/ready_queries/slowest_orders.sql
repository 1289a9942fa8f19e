-- The ten delivered orders that took longest, from first to last report of their day.
SELECT
    order_id,
    deliverer_id,
    dt AS day,
    round(duration_s / 60, 1) AS minutes,
    round(distance_km, 2) AS km,
    round(avg_speed_kmh, 1) AS avg_kmh,
    points
FROM gold_order_trips
WHERE final_state = 'arrived'
ORDER BY duration_s DESC, order_id, dt
LIMIT 10
