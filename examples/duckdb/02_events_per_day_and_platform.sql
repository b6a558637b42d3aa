-- Custom events per UTC day and platform, newest day first (after 01_views.sql).
SELECT event_date,
       platform,
       count(*)                        AS events,
       count(DISTINCT conversation_id) AS conversations
FROM custom_event_detail
GROUP BY ALL
ORDER BY event_date DESC, events DESC;
